"""What produced an artefact: library versions, the git state of the source tree, file hashes
and the machine. Results files, training reports and model cards record these so a number can
always be traced to the code, data and hardware behind it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

LIBRARIES = ("livefit", "nltk", "rouge-score", "bert-score", "torch", "transformers", "numpy")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the livefit source tree (None outside a git checkout)."""
    repo = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


def flatten_settings(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings -> ``{"engine.clock": "paper", ...}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_settings(value, f"{name}."))
        else:
            out[name] = value
    return out


def changed_settings(
    stored: dict[str, Any], now: dict[str, Any], defaults: dict[str, Any] | None = None
) -> list[str]:
    """The dotted names of the settings that differ between what an artefact recorded
    (``stored``) and what a resume would use (``now``), sorted. ``defaults`` (same nesting):
    values for keys the stored record lacks (a field added since it was written)."""
    before = flatten_settings(defaults or {})
    before.update(flatten_settings(stored))
    after = flatten_settings(now)
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def describe_changes(stored: dict[str, Any], now: dict[str, Any], names: list[str]) -> str:
    """``"engine.clock: paper -> wall, seed: 0 -> 1"`` for the messages that refuse a resume."""
    before, after = flatten_settings(stored), flatten_settings(now)
    return ", ".join(
        f"{k}: {before.get(k, '(absent)')!r} -> {after.get(k, '(absent)')!r}" for k in names
    )


def machine_info() -> dict[str, Any]:
    """CPU model, cores this process may use, memory, OS: where a timing was measured."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": cores,
        "memory_gib": memory,
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def settings_sha256(settings: dict[str, Any]) -> str:
    """SHA-256 of a settings dict in canonical JSON (sorted keys): a short, stable name for
    "what produced this artefact" that a per-file record can carry."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def state_dict_sha256(state: Any) -> str:
    """SHA-256 over a torch state dict (a mapping name -> tensor): names, dtypes, shapes and raw
    bytes, in name order. The same weights give the same hash whichever file they came from."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{list(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def tree_sha256(directory: str | Path) -> dict[str, str]:
    """``{relative path: SHA-256}`` of every file under ``directory`` (hidden files skipped):
    the identity of a model folder, so that new weights at the same path are noticed."""
    root = Path(directory)
    return {
        p.relative_to(root).as_posix(): file_sha256(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


__all__ = [
    "LIBRARIES",
    "changed_settings",
    "describe_changes",
    "file_sha256",
    "flatten_settings",
    "git_state",
    "library_versions",
    "machine_info",
    "settings_sha256",
    "state_dict_sha256",
    "tree_sha256",
]
