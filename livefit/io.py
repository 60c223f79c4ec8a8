"""Atomic file writes: long jobs write to a temporary file and rename, so a crash never leaves a
half-written artefact that a resumed job would mistake for a finished one. Also the checks of an
``--out`` path made before a command writes anything (a folder where a file is, or the reverse),
and ``parse_json``: JSON from outside (files, lines, messages) read with its size and nesting
bounded, so hostile input is one clear error instead of a ``RecursionError`` or a memory spike.
Long jobs hold ``exclusive_output`` (one writer per output file) and write inside ``naming_file``
(a full disk names the file it could not write)."""

from __future__ import annotations

import json
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
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
        with naming_file(path), os.fdopen(fd, "wb") as f:  # a full disk names ``path``
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


class JSONInputError(ValueError):
    """JSON from outside that cannot be read; the message starts with where it came from."""


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


class _DuplicateKey(Exception):
    pass


def parse_json(
    text: str | bytes,
    where: str,
    max_bytes: int | None = None,
    unique_keys: bool = False,
) -> Any:
    """``text`` as JSON, or ``JSONInputError("{where}: ...")``. ``max_bytes``: longer input is
    refused before it is parsed. Nesting deeper than the interpreter's recursion limit is an
    error, not a ``RecursionError``. ``unique_keys``: an object that repeats a key is refused,
    naming the key (configs: the last value would otherwise win silently)."""
    if max_bytes is not None and len(text) > max_bytes:
        raise JSONInputError(
            f"{where}: {len(text):,} bytes of JSON is more than the limit ({max_bytes:,} bytes)"
        )
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicates if unique_keys else None)
    except _DuplicateKey as err:
        key = err.args[0]
        raise JSONInputError(f"{where}: the key {key!r} appears twice in one object") from None
    except RecursionError:
        raise JSONInputError(f"{where}: JSON nested too deeply to read") from None
    except UnicodeDecodeError as err:
        raise JSONInputError(f"{where}: not UTF-8 text ({err.reason})") from None
    except json.JSONDecodeError as err:
        raise JSONInputError(
            f"{where}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})"
        ) from None


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


# ---- long jobs: one writer per output, and write errors that name their file -------------------
@contextmanager
def naming_file(path: str | Path) -> Iterator[None]:
    """Put ``path`` into the ``OSError``s raised inside that name no file: a ``write``, ``flush``
    or ``fsync`` on an open file reports only ``[Errno 28] No space left on device``, and the
    one error line (``livefit.options.error_line``) must say which file could not be written."""
    try:
        yield
    except OSError as err:
        if err.filename is None:
            err.filename = str(path)
        raise


class OutputLockedError(OutputPathError):
    """Another live process is writing the same output; the message names it (pid, host, start)."""


def lock_file(out: str | Path) -> Path:
    """``<out>.lock``: held by the job writing ``out``, it names that job."""
    out = Path(out)
    return out.with_name(out.name + ".lock")


def _holder(fd: int, path: Path) -> str:
    """Who holds the lock, from the note its holder wrote into the lock file."""
    try:
        note = parse_json(os.pread(fd, 4096, 0), str(path), max_bytes=4096)
    except (OSError, JSONInputError):
        note = None
    if not isinstance(note, dict):  # locked, but the note is not written yet (or not ours)
        return f"its holder has not written its name into {path} yet"
    who = f"pid {note.get('pid')} on host {note.get('host')}, started {note.get('started')}"
    return f"{who}; lock file {path}"


@contextmanager
def exclusive_output(
    out: str | Path, option: str = "--out", command: str = "livefit"
) -> Iterator[Path]:
    """Hold ``<out>.lock`` while writing ``out``: a second job on the same output is refused at
    once (``OutputLockedError`` naming the holder's pid, host and start time) instead of writing
    beside the first. ``fcntl.flock``: the kernel drops the lock when its holder dies, however
    it dies, so a killed job never blocks the next one; the lock file is removed on a normal
    exit, and one a killed job left behind is only a note."""
    import fcntl

    path = lock_file(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd, path)
            os.close(fd)
            raise OutputLockedError(
                f"{option} {out}: another {command} is writing it ({holder}); wait for it to "
                f"finish or choose another {option}"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        # A holder that finished between our open and our flock removed the file we opened:
        # locking it excludes nobody. Lock the file now at that path instead.
        try:
            now = os.stat(path)
        except FileNotFoundError:
            now = None
        mine = os.fstat(fd)
        if now is not None and (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
            break
        os.close(fd)
    try:
        note = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": command,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(note) + "\n").encode("utf-8"), 0)
        yield path
    finally:
        path.unlink(missing_ok=True)  # while still holding it: see the check above
        os.close(fd)
