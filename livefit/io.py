"""Atomic file writes: long jobs write to a temporary file and rename, so a crash never leaves a
half-written artefact that a resumed job would mistake for a finished one. Also the checks of an
``--out`` path made before a command writes anything (a folder where a file is, or the reverse)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np


def _file_mode() -> int:
    """0666 less the process umask: the mode ``open()`` would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600 files; artefacts are shared like any file
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 1) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))


class OutputPathError(ValueError):
    """An output path that cannot be written as asked; the message names the option and path."""


def _file_above(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` if it is not a folder (then nothing can go
    under it)."""
    for parent in path.absolute().parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def check_output_dir(path: str | Path, option: str = "--out") -> Path:
    """``path`` must be a folder or not exist yet, with no file in the way above it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{option} {path}: is an existing file, expected a folder")
    blocker = _file_above(path)
    if blocker is not None:
        raise OutputPathError(f"{option} {path}: {blocker} is a file, not a folder")
    return path


def check_output_file(
    path: str | Path, option: str = "--out", magic: bytes | None = None, kind: str = "file"
) -> Path:
    """``path`` must be a file or not exist yet, with no file in the way above it. With
    ``magic``, an existing file is only overwritten if it starts with those bytes (a file this
    kind of command wrote), never some other file given by mistake."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{option} {path}: is a folder, expected a {kind} to write")
    blocker = _file_above(path)
    if blocker is not None:
        raise OutputPathError(f"{option} {path}: {blocker} is a file, not a folder")
    if magic is not None and path.exists():
        with open(path, "rb") as f:
            head = f.read(len(magic))
        if head != magic:
            raise OutputPathError(
                f"{option} {path}: exists and is not a {kind}; not overwriting it "
                "(remove it or choose another path)"
            )
    return path
