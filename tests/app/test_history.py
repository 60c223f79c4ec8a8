"""The workout history: sessions stored with their events and summary in SQLite, read back by
``livefit history``; migrations, two writers at once, and a locked, read-only or corrupt file."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sqlite3
import stat
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livefit.app.history import (
    DB_NAME,
    HISTORY_ENV,
    MIGRATIONS,
    SCHEMA_VERSION,
    History,
    HistoryError,
    default_history_path,
)
from livefit.app.summary import summarize
from livefit.cli import app
from livefit.stream.live_types import LiveEvent
from livefit.synth.exercises import BY_NAME

SQUAT_FIX = BY_NAME["squats"].mistakes[0].corrections[0]

EVENTS = (  # as the live pipeline makes them: a session begins with text = its exercise
    LiveEvent(0.0, "session", text="squats", exercise="squats", session=0),
    LiveEvent(1.0, "exercise", text="squats", confidence=0.9),
    LiveEvent(2.0, "answer", exercise="squats", session=0),
    LiveEvent(2.1, "text", text="Nice", exercise="squats", session=0),
    LiveEvent(2.5, "feedback", text="Nice work, keep going!", exercise="squats", session=0),
    LiveEvent(4.0, "feedback", text=SQUAT_FIX, exercise="squats", session=0),
    LiveEvent(10.0, "session", text="", exercise="squats", session=0),
    LiveEvent(12.0, "session", text="push ups", exercise="push ups", session=1),
    LiveEvent(13.0, "feedback", text="Lower your chest!", exercise="push ups", session=1),
)


def test_summary_counts_time_lines_and_reps_per_exercise():
    summary = summarize(EVENTS, seconds=20.0)
    squats, push_ups = summary.exercises
    assert (squats.exercise, squats.seconds, squats.reps) == ("squats", 10.0, None)
    assert (squats.corrections, squats.other_lines) == (1, 1)  # the catalogued fix; praise
    assert (push_ups.seconds, push_ups.corrections, push_ups.other_lines) == (8.0, 0, 1)
    assert summary.timeline == ((0.0, 10.0, "squats"), (12.0, 20.0, "push ups"))
    assert summary.lines == 3
    reps = [LiveEvent(t, "rep", exercise="squats", session=0) for t in (3.0, 5.0, 7.0)]
    counted = summarize(EVENTS[:7] + tuple(reps), seconds=10.0)
    assert counted.exercises[0].reps == 3
    assert type(summary).from_json(json.loads(json.dumps(summary.to_json()))) == summary


def test_sessions_round_trip_with_events_and_summary(tmp_path):
    store = History(tmp_path / "h" / DB_NAME)
    assert store.sessions() == [] and store.progress() == {}
    summary = summarize(EVENTS, seconds=20.0)
    first = store.add(source="page", coach="bundled cnn", summary=summary, events=EVENTS)
    second = store.add(source="coach", coach="bundled cnn", summary=summary, events=EVENTS[:2])
    assert [s.id for s in store.sessions()] == [second, first]  # newest first
    stored, events = store.session(first)
    assert stored.summary == summary and stored.source == "page"
    kinds = [e.kind for e in events]
    assert "text" not in kinds and "answer" not in kinds  # a line's pieces: its feedback holds it
    assert [e for e in EVENTS if e.kind not in ("text", "answer")] == events
    progress = store.progress()
    assert [p["session"] for p in progress["squats"]] == [first, second]
    assert progress["push ups"][0]["seconds"] == 8.0
    with pytest.raises(HistoryError, match=f"{DB_NAME}: no session 99"):
        store.session(99)


def test_default_path_follows_xdg_and_the_override(tmp_path, monkeypatch):
    monkeypatch.delenv(HISTORY_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_history_path() == tmp_path / "xdg" / "livefit" / DB_NAME
    monkeypatch.setenv(HISTORY_ENV, str(tmp_path / "mine.db"))
    assert default_history_path() == tmp_path / "mine.db"


def test_an_old_schema_is_migrated_with_its_sessions(tmp_path):
    path = tmp_path / DB_NAME
    summary = summarize(EVENTS, seconds=20.0)
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    con.execute(
        "INSERT INTO sessions VALUES (1, '2026-01-01T00:00:00+00:00', 'upload', 'c', 20.0, ?)",
        (json.dumps(summary.to_json()),),
    )
    con.commit()
    con.close()
    store = History(path)
    assert [s.summary for s in store.sessions()] == [summary]
    assert store.progress()["squats"][0]["seconds"] == 10.0  # filled from the old summary
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(HistoryError, match="newer than this livefit"):
        History(path).sessions()


def _add_many(path: str, source: str, n: int, barrier) -> None:
    summary = summarize(EVENTS, seconds=20.0)
    store = History(path)
    barrier.wait()
    for _ in range(n):
        store.add(source=source, coach="c", summary=summary, events=EVENTS)


def test_sessions_finishing_at_once_all_land(tmp_path):
    path = str(tmp_path / DB_NAME)
    History(path).sessions()  # nothing yet: reading creates nothing
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_add_many, args=(path, s, 10, barrier)) for s in SOURCES2]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    sessions = History(path).sessions()
    assert sorted(s.source for s in sessions) == ["page"] * 10 + ["upload"] * 10
    assert len({s.id for s in sessions}) == 20


SOURCES2 = ("page", "upload")


def test_a_locked_database_is_one_error_line(tmp_path):
    path = tmp_path / DB_NAME
    store = History(path, timeout=0.2)
    store.add(source="coach", coach="c", summary=summarize(EVENTS, 20.0), events=EVENTS)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(HistoryError, match="locked by another process") as err:
            store.add(source="coach", coach="c", summary=summarize(EVENTS, 20.0), events=())
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(store.sessions()) == 1


def _write_read_only(path: str, queue) -> None:
    """As a user who may not write ``path`` (root writes read-only files: drop to nobody)."""
    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)
    try:
        History(path).add(source="coach", coach="c", summary=summarize(EVENTS, 20.0), events=())
        queue.put("stored")
    except HistoryError as err:
        queue.put(str(err))


def test_a_read_only_database_is_one_error_line():
    folder = Path(tempfile.mkdtemp(prefix="livefit-ro-"))  # not under tmp_path: nobody reads it
    try:
        folder.chmod(0o777)
        path = folder / DB_NAME
        History(path).add(source="coach", coach="c", summary=summarize(EVENTS, 20.0), events=())
        path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=_write_read_only, args=(str(path), queue))
        child.start()
        message = queue.get(timeout=60)
        child.join(60)
        assert message.startswith(f"{path}: ") and "read-only" in message, message
        assert "\n" not in message
        assert len(History(path).sessions()) == 1  # still readable, nothing lost
    finally:
        shutil.rmtree(folder)


def test_a_corrupt_database_is_set_aside_and_reported(tmp_path):
    path = tmp_path / DB_NAME
    path.write_bytes(b"this is not a database, it is a shopping list" * 100)
    store = History(path)
    store.add(source="coach", coach="c", summary=summarize(EVENTS, 20.0), events=EVENTS)
    assert store.set_aside is not None and store.set_aside.name.startswith(f"{DB_NAME}.corrupt-")
    assert store.set_aside.read_bytes().startswith(b"this is not a database")  # kept, not lost
    assert len(History(path).sessions()) == 1


def test_cli_lists_and_shows_sessions(tmp_path, monkeypatch):
    path = tmp_path / DB_NAME
    monkeypatch.setenv(HISTORY_ENV, str(path))
    runner = CliRunner()
    empty = runner.invoke(app, ["history"])
    assert empty.exit_code == 0 and "no sessions yet" in empty.output
    store = History(path)
    when = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    sid = store.add(
        source="upload",
        coach="bundled",
        summary=summarize(EVENTS, 20.0),
        events=EVENTS,
        started=when,
    )
    listed = runner.invoke(app, ["history"])
    assert listed.exit_code == 0, listed.output
    assert "2026-12-01T08:30:00+00:00" in listed.output and "squats 10 s" in listed.output
    as_json = json.loads(runner.invoke(app, ["history", "--json"]).output)
    assert as_json["sessions"][0]["id"] == sid
    shown = runner.invoke(app, ["history", "show", str(sid)])
    assert shown.exit_code == 0, shown.output
    assert SQUAT_FIX in shown.output and "push ups" in shown.output
    detail = json.loads(runner.invoke(app, ["history", "show", str(sid), "--json"]).output)
    assert [e["kind"] for e in detail["events"]].count("feedback") == 3
    missing = runner.invoke(app, ["history", "show", "7"])
    assert missing.exit_code == 2 and missing.output.strip().endswith("no session 7")
    path.write_bytes(b"garbage" * 1000)
    corrupt = runner.invoke(app, ["history"])
    assert (
        corrupt.exit_code == 0
        and "moved to" in corrupt.output
        and "no sessions yet" in corrupt.output
    )
