"""Option checks and the error line shared by every command: ``OptionError``, ``check_seed``,
``check_count``, ``error_line`` and ``finite``, the one check of a float option's value.

It sits in the bottom layer (the standard library and typer only), so ``livefit.cli`` and each
stage's ``cli.py`` import it without importing each other; ``livefit.cli`` re-exports its names.

Typer turns ``nan``, ``inf`` and ``1e400`` into floats that every ``<= 0`` test lets through
(``--max-fps nan`` started a server that dropped every frame). Each float option of each
``livefit`` command (``livefit/*/cli.py``, ``livefit/app/*_cli.py``) takes its callback from
``finite(...)``, which runs as typer parses the option, before the command's body: a value that
is not a finite number within the option's range is an ``OptionError`` naming the option, which
``livefit.cli`` prints as one ``error:`` line (exit 2).
"""

from __future__ import annotations

import errno
import math
from collections.abc import Callable

import typer


class OptionError(ValueError):
    """A command-line option with a value the command cannot use; the message names it."""


def check_seed(value: int | None, option: str = "--seed") -> None:
    """Seeds feed numpy's SeedSequence, which takes non-negative integers only."""
    if value is not None and value < 0:
        raise OptionError(f"{option} must be a non-negative integer, got {value}")


def check_count(value: int | None, option: str, minimum: int = 1) -> None:
    """A count option (workers, workouts, limits) must be at least ``minimum``."""
    if value is not None and value < minimum:
        raise OptionError(f"{option} must be at least {minimum}, got {value}")


def error_line(err: BaseException) -> str:
    """The one ``error:`` line of an expected failure."""
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:  # strerror says "device"
        where = f"{err.filename}: " if err.filename is not None else ""
        return f"error: {where}no space left on the disk"
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"error: {err.filename}: {err.strerror}"
    text = " ".join(str(err).split()) or type(err).__name__
    return f"error: {text}"


def finite(
    *,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
) -> Callable[[typer.CallbackParam, float | None], float | None]:
    """A typer ``callback=`` for a float option: finite, ``>= at_least`` / ``> above`` and
    ``<= at_most`` where given; None (an optional option left out) passes."""
    # "a positive number at most 1000", "a non-negative number at most 1e+06", "a positive
    # finite number": nan and inf fail every bound, so an upper one also says "finite"
    words = ["a"]
    words += ["positive"] if above == 0 else ["non-negative"] if at_least == 0 else []
    words += [] if at_most is not None else ["finite"]
    words += ["number"]
    words += [f"above {above:g}"] if above not in (None, 0) else []
    words += [f"at least {at_least:g}"] if at_least not in (None, 0) else []
    words += [f"at most {at_most:g}"] if at_most is not None else []
    wanted = " ".join(words)

    def check(param: typer.CallbackParam, value: float | None) -> float | None:
        if value is None:
            return None
        ok = (
            math.isfinite(value)
            and (at_least is None or value >= at_least)
            and (above is None or value > above)
            and (at_most is None or value <= at_most)
        )
        if not ok:
            option = max(param.opts, key=len) if param.opts else f"--{param.name}"
            raise OptionError(f"{option} must be {wanted}, got {value}")
        return value

    return check


__all__ = ["OptionError", "check_count", "check_seed", "error_line", "finite"]
