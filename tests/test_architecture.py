"""Issue 21, kept so: ``livefit --help`` stays light, and imports sit at the top of modules.

- ``livefit --help`` imports ``livefit.cli``, every stage CLI, ``livefit.options`` and
  ``livefit.baselines`` (the coach registry) at module level; none of that may load torch,
  transformers, peft, accelerate, cv2, av, ai_edge_litert or bert_score. Checked in a fresh
  interpreter: this test process has torch loaded already.
- An import of ``livefit.*`` inside a function hides a layer edge and is allowed only where it
  keeps one of those off that path: at most ``MAX_LAZY``, each with a ``# lazy: <why>`` comment on
  its (first) line. The layers themselves are import-linter's (``lint-imports``, pyproject.toml).
- No module over 500 lines but the exercise catalogue.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "livefit"
HEAVY = ("torch", "transformers", "peft", "accelerate", "cv2", "av", "ai_edge_litert", "bert_score")
MAX_LAZY = 30
LAZY_COMMENT = re.compile(r"#\s*lazy:\s*\S")

# Runs `livefit --help` in-process (after `setup`), then prints the heavy modules loaded.
PROBE = """
import contextlib, io, json, sys
{setup}
import livefit.cli
with contextlib.redirect_stdout(io.StringIO()):
    try:
        livefit.cli.app(["--help"], prog_name="livefit")
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})))
"""


def heavy_modules_after_help(setup: str = "") -> list[str]:
    """The heavy modules a fresh interpreter holds after ``setup`` and ``livefit --help``."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path)  # this checkout's livefit, whatever is installed
    code = PROBE.format(setup=setup, heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def function_level_imports(source: str, where: str) -> list[tuple[str, bool]]:
    """Every ``livefit`` import inside a function or method of ``source`` (``where`` is its
    path, for the report): ``("where:line", has a # lazy: comment)``. Relative imports count:
    the scanned files are all inside the package."""
    lines = source.splitlines()
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom) and in_function:
                if isinstance(child, ast.Import):
                    internal = any(a.name.split(".")[0] == "livefit" for a in child.names)
                else:
                    internal = child.level > 0 or (child.module or "").split(".")[0] == "livefit"
                if internal:
                    lazy = bool(LAZY_COMMENT.search(lines[child.lineno - 1]))
                    found.append((f"{where}:{child.lineno}", lazy))
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    visit(ast.parse(source), False)
    return found


def package_lazy_imports() -> list[tuple[str, bool]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += function_level_imports(path.read_text(), str(path.relative_to(ROOT)))
    return found


def test_livefit_help_loads_no_heavy_library():
    assert heavy_modules_after_help() == []


def test_the_probe_sees_a_heavy_import():
    assert "av" in heavy_modules_after_help(setup="import av")


def test_the_scan_finds_function_level_livefit_imports():
    source = """
import livefit.io
import numpy
def f():
    from livefit.io import atomic_write  # lazy: keeps x off y
    from livefit import config
    import numpy
    from . import sibling
class C:
    def m(self):
        import livefit.data.qevd
        def inner():
            from livefit.options import (  # lazy: keeps x off y
                finite,
            )
"""
    found = function_level_imports(source, "x.py")
    assert found == [
        ("x.py:5", True),
        ("x.py:6", False),
        ("x.py:8", False),
        ("x.py:11", False),
        ("x.py:13", True),
    ]


def test_few_function_level_livefit_imports_each_saying_why():
    found = package_lazy_imports()
    silent = [where for where, lazy in found if not lazy]
    assert not silent, (
        "a livefit import inside a function: move it to the top of the module, or, if it keeps "
        "a heavy library off `livefit --help`, say so with `# lazy: <what> off <path>`: "
        + ", ".join(silent)
    )
    assert len(found) <= MAX_LAZY, (
        f"{len(found)} function-level livefit imports (at most {MAX_LAZY}): "
        + ", ".join(where for where, _ in found)
    )


# Rooms that fit in a head: no module over MAX_MODULE_LINES, bar the one catalogue of data tables.
MAX_MODULE_LINES = 500
CATALOGUES = {"livefit/synth/exercises.py"}  # QEVD-SIM's exercises, mistakes and cues


def test_no_module_is_too_long_to_hold_in_a_head():
    long = {
        str(path.relative_to(ROOT)): n
        for path in sorted(PACKAGE.rglob("*.py"))
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert set(long) <= CATALOGUES, (
        f"modules over {MAX_MODULE_LINES} lines (split them by job): "
        + ", ".join(f"{k} ({v})" for k, v in long.items() if k not in CATALOGUES)
    )
