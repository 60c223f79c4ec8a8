"""``livefit history``: the finished sessions in the workout history, and one of them in full
(``show ID``), as a table or as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from livefit.app.history import History, StoredSession, default_history_path
from livefit.options import check_count

DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="History database; default: LIVEFIT_HISTORY, else history.sqlite3 in the user's "
        "data directory.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

history_app = typer.Typer(
    help="The workout history: every finished session (serve, coach), with its summary.",
    invoke_without_command=True,
)


def _report_set_aside(history: History) -> None:
    if history.set_aside_warning is not None:
        typer.echo(history.set_aside_warning, err=True)


def _reps(value: int | None) -> str:
    return "-" if value is None else str(value)


def _line(s: StoredSession) -> str:
    parts = []
    for e in s.summary.exercises:
        reps = f", {e.reps} rep{'' if e.reps == 1 else 's'}" if e.reps is not None else ""
        parts.append(f"{e.exercise} {e.seconds:.0f} s{reps}")
    what = "; ".join(parts) or "no exercise coached"
    return f"{s.id:>4}  {s.started}  {s.source:<6}  {s.seconds:6.0f} s  {what}"


@history_app.callback()
def history(
    ctx: typer.Context,
    db: DbOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option(help="Newest sessions shown (0: all).")] = 20,
) -> None:
    """List the finished sessions, newest first (``livefit history show ID`` for one)."""
    ctx.obj = {"db": db}
    if ctx.invoked_subcommand is not None:
        return
    check_count(limit, "--limit", minimum=0)
    store = History(db)
    sessions = store.sessions(limit or None)
    _report_set_aside(store)
    if as_json:
        typer.echo(
            json.dumps(
                {"database": str(store.path), "sessions": [s.to_json() for s in sessions]}, indent=1
            )
        )
        return
    if not sessions:
        typer.echo(f"no sessions yet in {store.path}")
        return
    typer.echo(f"{store.path}: {len(sessions)} session(s), newest first")
    typer.echo("  id  started (UTC)              source    video  exercises")
    for s in sessions:
        typer.echo(_line(s))


@history_app.command("show")
def show(
    ctx: typer.Context,
    session_id: Annotated[int, typer.Argument(help="The session's id (from `livefit history`).")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One session: its summary per exercise, its timeline and every line said."""
    store = History(db or (ctx.obj or {}).get("db"))
    stored, events = store.session(session_id)
    _report_set_aside(store)
    if as_json:
        out = stored.to_json() | {"events": [e.to_json() for e in events]}
        typer.echo(json.dumps(out, indent=1))
        return
    typer.echo(f"session {stored.id}: {stored.started} UTC, {stored.source}, coach {stored.coach}")
    typer.echo(f"  {stored.seconds:.0f} s of video, {stored.summary.lines} line(s) said")
    typer.echo("  exercise                      time   reps  corrections  other lines")
    for e in stored.summary.exercises:
        typer.echo(
            f"  {e.exercise:<28} {e.seconds:5.0f} s  {_reps(e.reps):>4}  {e.corrections:>11}"
            f"  {e.other_lines:>11}"
        )
    typer.echo("  timeline:")
    for start, end, name in stored.summary.timeline:
        typer.echo(f"    {start:7.1f} - {end:7.1f} s  {name}")
    said = [e for e in events if e.kind in ("feedback", "rule")]
    if said:
        typer.echo("  said:")
        for e in said:
            rule = " (rule)" if e.kind == "rule" else ""
            typer.echo(f"    {e.time:7.1f} s  {e.text}{rule}")


def register(groups: dict[str, typer.Typer]) -> None:
    groups["root"].add_typer(history_app, name="history")


__all__ = ["default_history_path", "history_app", "register"]
