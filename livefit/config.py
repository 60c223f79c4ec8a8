"""Typed configs: frozen dataclasses saved as JSON next to every artefact they produce.

``save_config`` / ``load_config`` round-trip any (nested) dataclass of plain fields. Every value
is checked against its field's annotation (int, float, bool, str, Literal, tuples, optionals,
nested dataclasses) and unknown keys are an error: the message names the file and the dotted
field, so a typo or a quoted number in a config never passes silently. A field declared with
``bounded(default, ge=..., gt=..., le=..., lt=...)`` also has its range checked on load (a batch
size of 0, a negative learning rate), and a key repeated in one object is refused.

A config file may state only what differs from another: ``"base": "<path>"`` (relative to the
file) names the file it builds on. ``load_config`` reads the base (which may name its own base),
then lays the file's keys over it: an object merges key by key, at any depth; a list, a number, a
string or null replaces the base's value whole. The result is checked as above, so a typo in an
override is refused with its dotted field name. A missing base or a cycle of bases is a
``ConfigError`` naming the file. Only the resolved config exists past loading: ``save_config``
writes every field and no ``"base"``, which is what lies beside every artefact. Example
(``configs/coach/tiny_long_range.json``)::

    {"base": "tiny_clips.json", "stage": "long_range", "loop": {"epochs": 4}}
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from livefit.io import JSONInputError, atomic_write_text, parse_json

T = TypeVar("T")
# A config is a few KB; anything past this is not one (refused before it is parsed).
MAX_CONFIG_BYTES = 4 * 2**20
BASE_KEY = "base"  # a config file's top-level key naming the file it overrides (see above)


class ConfigError(ValueError):
    """A config file or dict that does not fit its dataclass; the message names file and field."""


def config_to_dict(config: Any) -> dict:
    """A dataclass (possibly nested) -> a JSON-ready dict; tuples become lists."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"{type(config).__name__} is not a dataclass")
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _describe(value: Any) -> str:
    """A value as it appears in the file, for error messages."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind_name(kind: Any) -> str:
    """A field's annotation in words: ``an int``, ``one of "paper", "wall"``, ``a list of 2``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is bool:
        return "a boolean (true or false)"
    if kind is int:
        return "an int"
    if kind is float:
        return "a finite number"
    if kind is str:
        return "a string"
    if origin is typing.Literal:
        return "one of " + ", ".join(json.dumps(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_kind_name(args[0]).split(' (')[0]} values"
        return f"a list of {len(args)} values"
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _kind_name(a) for a in args)
    if dataclasses.is_dataclass(kind):
        return f"an object ({kind.__name__})"
    return getattr(kind, "__name__", str(kind))


@dataclasses.dataclass(frozen=True)
class Range:
    """Bounds of a numeric config field (each None: no bound), checked by ``config_from_dict``."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def problem(self, value: float) -> str | None:
        """What ``value`` breaks, as in "must be >= 1", or None when it is in range."""
        for bound, op, fails in (
            (self.ge, ">=", lambda b: value < b),
            (self.gt, ">", lambda b: value <= b),
            (self.le, "<=", lambda b: value > b),
            (self.lt, "<", lambda b: value >= b),
        ):
            if bound is not None and fails(bound):
                return f"{op} {bound:g}"
        return None


def bounded(
    default: T,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> T:
    """A dataclass field with a default whose value (each element, for a tuple) must lie in the
    given range when the config is loaded, e.g. ``lr: float = bounded(1e-4, gt=0)``. Checked
    where configs enter (``config_from_dict``), so a bad file is refused before anything runs."""
    meta = {"range": Range(ge, gt, le, lt)}
    return typing.cast(T, dataclasses.field(default=default, metadata=meta))


def _check_range(field: dataclasses.Field, value: Any, where: str, name: str) -> None:
    limits = field.metadata.get("range")
    if limits is None:
        return
    many = isinstance(value, (list, tuple))
    for i, v in enumerate(value if many else (value,)):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            broken = limits.problem(v)
            if broken is not None:
                at = f"{name}[{i}]" if many else name
                raise ConfigError(f"{where}: field {at} must be {broken}, got {_describe(v)}")


class _Mismatch(Exception):
    """A value that does not fit its annotation (turned into a ConfigError naming the field)."""

    def __init__(self, field: str, kind: Any, value: Any, detail: str = ""):
        super().__init__(field)
        self.field, self.kind, self.value, self.detail = field, kind, value, detail


def _coerce(kind: Any, value: Any, where: str, field: str) -> Any:
    """Check ``value`` against the annotation ``kind`` and restore tuples and dataclasses."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise _Mismatch(field, kind, value)
        return config_from_dict(kind, value, where, prefix=f"{field}.")  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where, field)
            except _Mismatch:
                continue
        raise _Mismatch(field, kind, value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch(field, kind, value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, where, f"{field}[{i}]") for i, v in enumerate(value))
        if not args:
            return tuple(value)
        if len(args) != len(value):
            raise _Mismatch(field, kind, value, f"a list of {len(args)} values")
        return tuple(
            _coerce(a, v, where, f"{field}[{i}]")
            for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin is typing.Literal:
        if value in args and type(value) in {type(a) for a in args}:
            return value
        raise _Mismatch(field, kind, value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch(field, kind, value)
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch(field, kind, value)
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value) if isinstance(value, int) else value
        raise _Mismatch(field, kind, value)
    if kind is str:
        if isinstance(value, str):
            return value
        raise _Mismatch(field, kind, value)
    if kind is Any:
        return value
    check = origin or kind
    if isinstance(check, type) and not isinstance(value, check):
        raise _Mismatch(field, kind, value)
    return value


def config_from_dict(cls: type[T], data: dict, where: str = "config", prefix: str = "") -> T:
    """Build ``cls`` from a dict, checking every value against its field's annotation.

    Nested dataclasses and tuples are restored. A wrong type raises ``ConfigError`` (a
    ``ValueError``) naming ``where`` (the file) and the dotted field, e.g. ``x.json: field
    loop.epochs must be an int, got "2"``; so do unknown and missing fields.
    """
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where}: expected an object of {cls.__name__} fields, got {_describe(data)}"
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        at = f" at {prefix[:-1]}" if prefix else ""
        raise ConfigError(f"{where}: unknown {cls.__name__} field(s) {unknown}{at}")
    missing = [
        name
        for name, f in fields.items()
        if f.init
        and name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: field {prefix}{missing[0]} is missing")
    kwargs = {}
    for key, value in data.items():
        try:
            kwargs[key] = _coerce(hints[key], value, where, f"{prefix}{key}")
        except _Mismatch as err:
            want = err.detail or _kind_name(err.kind)
            raise ConfigError(
                f"{where}: field {err.field} must be {want}, got {_describe(err.value)}"
            ) from None
        _check_range(fields[key], value, where, f"{prefix}{key}")  # as written in the file
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:  # a __post_init__ check: say which file broke it
        at = f" (in {prefix[:-1]})" if prefix else ""
        raise ConfigError(f"{where}: {err}{at}") from None


def save_config(config: Any, path: str | Path) -> None:
    """Write ``config`` as indented JSON, atomically."""
    atomic_write_text(Path(path), json.dumps(config_to_dict(config), indent=2) + "\n")


def merge_config(base: dict, override: dict) -> dict:
    """``override`` laid over ``base``: objects merge key by key at any depth; any other value
    (a list, a number, a string, null) replaces the base's whole. Neither input is changed."""
    merged = dict(base)
    for key, value in override.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = merge_config(below, value)
        else:
            merged[key] = value
    return merged


def _read_json(path: Path, named_by: str | None = None) -> Any:
    """One config file's JSON: bounded in size and nesting, every key once per object (the last
    of two would otherwise win silently). ``named_by``: the file whose ``"base"`` names it."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        if named_by is not None:
            raise ConfigError(f"{named_by}: base config {path} is missing") from None
        raise FileNotFoundError(f"{path}: config file is missing") from None
    except IsADirectoryError:
        if named_by is None:
            raise
        raise ConfigError(f"{named_by}: base config {path} is a folder, not a file") from None
    try:
        return parse_json(raw, str(path), max_bytes=MAX_CONFIG_BYTES, unique_keys=True)
    except JSONInputError as err:
        raise ConfigError(str(err)) from None


def read_config_dict(path: str | Path) -> tuple[Any, list[Path]]:
    """A config file's data with its ``"base"`` chain resolved (no ``"base"`` key left) and the
    base files it was built on, nearest first. Data that is not an object is returned as is,
    for ``config_from_dict`` to refuse."""
    path = Path(path)
    data = _read_json(path)
    layers = [data]  # the file, then its base, its base's base, ...
    chain = [path]
    while isinstance(data, dict) and BASE_KEY in data:
        here, name = chain[-1], data[BASE_KEY]
        if not isinstance(name, str) or not name:
            raise ConfigError(
                f"{here}: field {BASE_KEY} must be a path relative to this file, "
                f"got {_describe(name)}"
            )
        base = here.parent / name
        seen = [p.resolve() for p in chain]
        if base.resolve() in seen:
            loop = " -> ".join(str(p) for p in chain[seen.index(base.resolve()) :] + [base])
            raise ConfigError(f"{here}: base {name!r} makes a cycle of bases ({loop})")
        data = _read_json(base, named_by=str(here))
        if not isinstance(data, dict):
            raise ConfigError(f"{base}: expected an object of config fields (the base of {here})")
        layers.append(data)
        chain.append(base)
    resolved: Any = layers.pop()
    for layer in reversed(layers):
        resolved = merge_config(resolved, layer)
    if isinstance(resolved, dict):
        resolved.pop(BASE_KEY, None)
    return resolved, chain[1:]


def load_config(cls: type[T], path: str | Path) -> T:
    """Read ``cls`` from a JSON file: its ``"base"`` chain resolved (see the module docstring),
    each file bounded in size and nesting with every key once per object, every field checked
    as in ``config_from_dict``. Errors name the file (and its bases, when it has some)."""
    data, bases = read_config_dict(path)
    where = str(path)
    if bases:
        where += f" (base: {', '.join(str(b) for b in bases)})"
    return config_from_dict(cls, data, where)
