"""Typed configs: frozen dataclasses saved as JSON next to every artefact they produce.

``save_config`` / ``load_config`` round-trip any (nested) dataclass of plain fields; unknown keys
in a file are an error that names the file, so a typo in a config never passes silently.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from livefit.io import atomic_write_text

T = TypeVar("T")


def config_to_dict(config: Any) -> dict:
    """A dataclass (possibly nested) -> a JSON-ready dict; tuples become lists."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"{type(config).__name__} is not a dataclass")
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _coerce(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind) and isinstance(value, dict):
        return config_from_dict(kind, value, where)
    if origin is tuple and isinstance(value, list):
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, where) for v in value)
        return tuple(_coerce(a, v, where) for a, v in zip(args, value, strict=False))
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(kind):
            if arg is type(None) and value is None:
                return None
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return config_from_dict(arg, value, where)
            if typing.get_origin(arg) is tuple and isinstance(value, list):
                return _coerce(arg, value, where)
    return value


def config_from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build ``cls`` from a dict; nested dataclasses and tuples are restored."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown {cls.__name__} field(s) {unknown}")
    kwargs = {key: _coerce(hints[key], value, where) for key, value in data.items()}
    return cls(**kwargs)


def save_config(config: Any, path: str | Path) -> None:
    """Write ``config`` as indented JSON, atomically."""
    atomic_write_text(Path(path), json.dumps(config_to_dict(config), indent=2) + "\n")


def load_config(cls: type[T], path: str | Path) -> T:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: config file is missing") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    return config_from_dict(cls, data, str(path))
