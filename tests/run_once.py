"""``built_once``: an expensive test input made once per pytest run, shared by the processes of
the run (``make test`` runs three pytest-xdist workers)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """``<the run's temporary folder>/name``, made by ``build(folder)`` once per pytest run,
    whether one process runs the tests or several pytest-xdist workers share them."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # a worker's own folder is <the run's>/popen-gw<k>
    folder, done = base / name, base / f"{name}.done"
    with FileLock(base / f"{name}.lock"):
        if not done.exists():
            if folder.exists():
                shutil.rmtree(folder)  # a build that failed half way, in another worker
            build(folder)
            done.touch()
    return folder
