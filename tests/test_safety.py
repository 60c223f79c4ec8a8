"""What issue 20 checked and found fine, kept so: no file a user hands livefit can run code.
An AST scan of the package: every ``torch.load`` passes ``weights_only=True``; nothing calls
``pickle.load(s)``, ``eval``, ``exec``, ``yaml.load``, ``subprocess`` with ``shell=True`` or a
Hugging Face loader with ``trust_remote_code=True``."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "livefit"


def _name(node: ast.expr) -> str:
    """``a.b.c`` of a call's function, as written."""
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_calls(source: str, where: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name, at = _name(node.func), f"{where}:{node.lineno}"
        if name.endswith("torch.load") and not _is_true(_keyword(node, "weights_only")):
            found.append(f"{at}: torch.load without weights_only=True")
        if name in ("pickle.load", "pickle.loads", "eval", "exec", "yaml.load"):
            found.append(f"{at}: {name}")
        if _is_true(_keyword(node, "shell")):
            found.append(f"{at}: {name}(shell=True)")
        if _is_true(_keyword(node, "trust_remote_code")):
            found.append(f"{at}: {name}(trust_remote_code=True)")
    return found


def test_the_scan_finds_each_kind_of_unsafe_call():
    bad = """
torch.load(p)
torch.load(p, weights_only=False)
pickle.loads(b)
eval(text)
subprocess.run(cmd, shell=True)
AutoModel.from_pretrained(p, trust_remote_code=True)
torch.load(p, weights_only=True)
"""
    assert len(unsafe_calls(bad, "x.py")) == 6


def test_no_file_a_user_gives_can_run_code():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += unsafe_calls(path.read_text(), str(path.relative_to(PACKAGE.parent)))
    assert not found, found
