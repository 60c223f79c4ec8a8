"""The registry of built-in coaches: the names (``silent``, ``periodic``, ``oracle-coach``) and
``PREFIX:SPEC`` families (``socratic:URL|PATH``, ``turn:URL|PATH``) that ``livefit predict`` and
``livefit benchmark`` take in place of a Stream-VLM folder; and ``PredictError``, bad input to
``predict``.

Flow position: in ``livefit.stream``, below ``livefit.stream.predict``, which asks
``coach_for(model)`` for a coach. The coaches live a layer up, in ``livefit.baselines``, whose
``__init__`` registers them (``register_coach``, ``register_spec``), so this layer never imports
that one. Whoever composes a program imports ``livefit.baselines`` to fill the registry:
``livefit.cli`` and ``livefit.eval.benchmark`` do; a script that calls ``predict`` with a
built-in name must too. A coach is any object with the engine's interface (``start`` ->
session, ``session.push(step)`` -> events, ``session.feedbacks``). Stdlib only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Factory = Callable[[], Any]  # -> a coach
SpecFactory = Callable[[str], Any]  # the whole "PREFIX:SPEC" -> a coach; ValueError says why not

# Insertion order is the order the names appear in messages.
_BUILTIN: dict[str, Factory] = {}
_SPECS: dict[str, tuple[str, SpecFactory]] = {}  # prefix -> (what SPEC is, factory)


class PredictError(ValueError):
    """Bad input to ``predict``; the message names the file and the problem."""


def register_coach(name: str, factory: Factory) -> None:
    """Make ``name`` a built-in coach; ``factory()`` builds one (registering again replaces it)."""
    _BUILTIN[name] = factory


def register_spec(prefix: str, what: str, factory: SpecFactory) -> None:
    """Make ``PREFIX:SPEC`` name a coach; ``what``: what SPEC is; ``factory(spec)`` gets the
    whole ``PREFIX:SPEC`` and raises ``ValueError`` saying what is wrong with it."""
    _SPECS[prefix] = (what, factory)


def builtin_names() -> tuple[str, ...]:
    """The registered built-in coach names, in registration order."""
    return tuple(_BUILTIN)


def spec_prefix(spec: str) -> str | None:
    """``"socratic:http://h:8000/v1"`` -> ``"socratic"``; None when ``spec`` names no such coach."""
    prefix, sep, _ = spec.partition(":")
    return prefix if sep and prefix in _SPECS else None


def builtin_coach(name: str) -> Any:
    """A built-in coach by name; ``KeyError`` lists the names."""
    if name not in _BUILTIN:
        raise KeyError(f"unknown built-in coach {name!r}: expected {', '.join(_BUILTIN)}")
    return _BUILTIN[name]()


def spec_coach(spec: str) -> Any:
    """The coach a ``PREFIX:SPEC`` names (loads its models); ``ValueError`` says what is wrong."""
    prefix = spec_prefix(spec)
    if prefix is None:
        raise ValueError(f"{spec}: expected one of " + ", ".join(f"{p}:SPEC" for p in _SPECS))
    return _SPECS[prefix][1](spec)


def coach_for(model: str | Path) -> Any | None:
    """The built-in coach ``model`` names (``silent``, ``periodic``, ``oracle-coach``,
    ``socratic:SPEC``, ``turn:SPEC``), or None: an existing folder of that name is a model folder,
    not the built-in. A ``PREFIX:SPEC`` the coach refuses is a ``PredictError``."""
    name = str(model)
    if name in _BUILTIN and not Path(name).is_dir():
        return builtin_coach(name)
    if spec_prefix(name) and not Path(name).is_dir():  # socratic:URL|PATH, turn:URL|PATH
        try:
            return spec_coach(name)
        except ValueError as err:
            raise PredictError(f"--model {err}") from None
    return None


__all__ = [
    "Factory",
    "PredictError",
    "SpecFactory",
    "builtin_coach",
    "builtin_names",
    "coach_for",
    "register_coach",
    "register_spec",
    "spec_coach",
    "spec_prefix",
]
