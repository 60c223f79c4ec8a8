"""The workout history: every finished session (a camera or an upload in ``livefit serve``, a
``livefit coach`` run) in one SQLite database, with its events and its summary; ``livefit
history`` and the page's History view (``/history``) read it.

Where: ``history.sqlite3`` in the user's data directory (platformdirs: on Linux
``$XDG_DATA_HOME/livefit``, else ``~/.local/share/livefit``), or the file that
``LIVEFIT_HISTORY`` names. The schema is versioned (SQLite's ``user_version``) and upgraded in
place by ``MIGRATIONS``, one transaction per step; a database from a newer livefit is refused,
never downgraded. Writers take SQLite's write lock for the whole insert (``BEGIN IMMEDIATE``)
and wait up to ``timeout`` seconds for it, so two sessions finishing at once both land. A file
that is not a sound SQLite database is moved aside (``history.sqlite3.corrupt-<time>``) and
reported, never silently replaced; a locked or read-only database is one ``HistoryError`` line
that names the file.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import platformdirs

from livefit.app.summary import SessionSummary
from livefit.stream.live_types import LiveEvent

HISTORY_ENV = "LIVEFIT_HISTORY"
DB_NAME = "history.sqlite3"
# The page streamed it (camera or a file), an upload, livefit coach.
Source = Literal["page", "upload", "coach"]
SOURCES: tuple[str, ...] = get_args(Source)
STORED_KINDS = frozenset({"session", "exercise", "feedback", "rep", "rule", "dropped"})
"""Event kinds kept (the ``text`` pieces and ``answer`` marks of a line are left out: the
finished line is its ``feedback`` event; ``rep``: a rep counter's, when one runs; ``rule``: a
line a rule said, such as the out-of-view hint)."""

MIGRATIONS: tuple[str, ...] = (
    # 1: the sessions and their events.
    """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        started TEXT NOT NULL,        -- ISO 8601, UTC, when the session began
        source TEXT NOT NULL,         -- page | upload | coach
        coach TEXT NOT NULL,          -- the model that coached
        seconds REAL NOT NULL,        -- video covered
        summary TEXT NOT NULL         -- JSON: livefit.app.summary.SessionSummary
    );
    CREATE TABLE events (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        time REAL NOT NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL,
        exercise TEXT NOT NULL,
        coach_session INTEGER NOT NULL,
        confidence REAL NOT NULL,
        PRIMARY KEY (session_id, seq)
    );
    """,
    # 2: one row per exercise of a session, for progress over sessions (filled from the
    # summaries already stored).
    """
    CREATE TABLE exercise_totals (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        exercise TEXT NOT NULL,
        seconds REAL NOT NULL,
        reps INTEGER,                 -- NULL: nothing counted reps
        corrections INTEGER NOT NULL,
        other_lines INTEGER NOT NULL,
        PRIMARY KEY (session_id, exercise)
    );
    CREATE INDEX exercise_totals_by_exercise ON exercise_totals(exercise, session_id);
    INSERT INTO exercise_totals
        SELECT s.id, json_extract(e.value, '$.exercise'), json_extract(e.value, '$.seconds'),
               json_extract(e.value, '$.reps'), json_extract(e.value, '$.corrections'),
               json_extract(e.value, '$.other_lines')
        FROM sessions AS s, json_each(s.summary, '$.exercises') AS e;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

log = logging.getLogger("livefit.history")


class HistoryError(Exception):
    """The history database cannot be used; the message names the file and the problem."""


class NoSuchSession(HistoryError):
    """The history holds no session with that id."""


def default_history_path() -> Path:
    """``LIVEFIT_HISTORY`` if set, else ``history.sqlite3`` in the user's data directory."""
    override = os.environ.get(HISTORY_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("livefit", appauthor=False)) / DB_NAME


@dataclass(frozen=True)
class StoredSession:
    """One session as the history holds it."""

    id: int
    started: str
    source: str
    coach: str
    seconds: float
    summary: SessionSummary

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started": self.started,
            "source": self.source,
            "coach": self.coach,
            "seconds": round(self.seconds, 3),
            "summary": self.summary.to_json(),
        }


class History:
    """The history database at ``path`` (``default_history_path()`` if None). Each call opens
    and closes its own connection: a server's worker threads and other processes share the file
    through SQLite's locks. ``set_aside`` is where a corrupt file was moved (None if none)."""

    def __init__(self, path: str | Path | None = None, timeout: float = 10.0) -> None:
        self.path = Path(path) if path is not None else default_history_path()
        self.timeout = timeout
        self.set_aside: Path | None = None
        self._checked = False

    @property
    def set_aside_warning(self) -> str | None:
        """The line that tells the user a corrupt file was moved aside (None: none was)."""
        if self.set_aside is None:
            return None
        return (
            f"warning: {self.path} was not a sound database: moved to {self.set_aside}; "
            "a new history starts"
        )

    # -- writing ----------------------------------------------------------------------------
    def add(
        self,
        *,
        source: Source,
        coach: str,
        summary: SessionSummary,
        events: Iterable[LiveEvent],
        started: datetime | None = None,
    ) -> int:
        """Store one finished session; returns its id."""
        if source not in SOURCES:
            raise ValueError(f"unknown session source {source!r}: expected one of {SOURCES}")
        started = started or datetime.now(UTC)
        rows = [e for e in events if e.kind in STORED_KINDS]
        with self._connection(write=True) as con:
            cursor = con.execute(
                "INSERT INTO sessions (started, source, coach, seconds, summary) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    started.astimezone(UTC).isoformat(timespec="seconds"),
                    source,
                    coach,
                    summary.seconds,
                    json.dumps(summary.to_json()),
                ),
            )
            session_id = int(cursor.lastrowid or 0)
            con.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (session_id, i, e.time, e.kind, e.text, e.exercise, e.session, e.confidence)
                    for i, e in enumerate(rows)
                ],
            )
            con.executemany(
                "INSERT INTO exercise_totals VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (session_id, x.exercise, x.seconds, x.reps, x.corrections, x.other_lines)
                    for x in summary.exercises
                ],
            )
        return session_id

    # -- reading ----------------------------------------------------------------------------
    def sessions(self, limit: int | None = None) -> list[StoredSession]:
        """The sessions, newest first (at most ``limit``)."""
        if not self.path.exists():
            return []
        query = "SELECT * FROM sessions ORDER BY id DESC" + (" LIMIT ?" if limit else "")
        with self._connection() as con:
            return [_session(row) for row in con.execute(query, (limit,) if limit else ())]

    def session(self, session_id: int) -> tuple[StoredSession, list[LiveEvent]]:
        """One session and its stored events (``NoSuchSession`` if there is no such id)."""
        if not self.path.exists():  # reading creates no database
            raise NoSuchSession(f"{self.path}: no session {session_id}")
        with self._connection() as con:
            row = con.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                raise NoSuchSession(f"{self.path}: no session {session_id}")
            events = [
                LiveEvent(
                    time=r["time"],
                    kind=r["kind"],
                    text=r["text"],
                    exercise=r["exercise"],
                    session=r["coach_session"],
                    confidence=r["confidence"],
                )
                for r in con.execute(
                    "SELECT * FROM events WHERE session_id = ? ORDER BY seq", (session_id,)
                )
            ]
        return _session(row), events

    def progress(self) -> dict[str, list[dict[str, Any]]]:
        """Per exercise, one point per session that did it, oldest first: ``{"session",
        "started", "seconds", "reps", "corrections"}``."""
        if not self.path.exists():
            return {}
        out: dict[str, list[dict[str, Any]]] = {}
        with self._connection() as con:
            for r in con.execute(
                "SELECT t.*, s.started FROM exercise_totals AS t JOIN sessions AS s "
                "ON s.id = t.session_id ORDER BY t.exercise, t.session_id"
            ):
                out.setdefault(r["exercise"], []).append(
                    {
                        "session": r["session_id"],
                        "started": r["started"],
                        "seconds": round(r["seconds"], 3),
                        "reps": r["reps"],
                        "corrections": r["corrections"],
                    }
                )
        return out

    # -- the connection ---------------------------------------------------------------------
    @contextmanager
    def _connection(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction (``BEGIN IMMEDIATE`` to write), the schema
        brought up to date first. Every SQLite failure leaves as one ``HistoryError``."""
        if write:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise HistoryError(f"{self.path}: cannot create its folder: {err}") from None
        con = self._open()
        try:
            con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        except sqlite3.Error as err:
            raise HistoryError(f"{self.path}: {_problem(err)}") from None
        finally:
            con.close()

    def _open(self) -> sqlite3.Connection:
        """Connect, check the file once per ``History`` (a corrupt one is set aside and a new
        one opened) and migrate the schema."""
        for _ in range(2):
            try:
                con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            except sqlite3.Error as err:
                raise HistoryError(f"{self.path}: cannot open: {_problem(err)}") from None
            con.row_factory = sqlite3.Row
            try:
                problem = None if self._checked else _check(con)
                if problem is None:
                    self._checked = True
                    self._migrate(con)
                    return con
            except sqlite3.Error as err:
                con.close()
                raise HistoryError(f"{self.path}: {_problem(err)}") from None
            except BaseException:
                con.close()
                raise
            con.close()
            self._set_aside(problem)
        raise HistoryError(f"{self.path}: still not a sound database after setting it aside")

    def _migrate(self, con: sqlite3.Connection) -> None:
        con.execute("PRAGMA foreign_keys = ON")
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"{self.path}: schema version {version} is newer than this livefit's "
                f"({SCHEMA_VERSION}): upgrade livefit (the file is left as it is)"
            )
        for step in range(version, SCHEMA_VERSION):
            con.execute("BEGIN IMMEDIATE")
            try:
                if con.execute("PRAGMA user_version").fetchone()[0] == step:  # else: done by
                    for statement in _statements(MIGRATIONS[step]):  # another process
                        con.execute(statement)
                    con.execute(f"PRAGMA user_version = {step + 1}")
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise

    def _set_aside(self, problem: str) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            os.replace(self.path, target)
            for suffix in ("-journal", "-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    os.replace(side, target.with_name(target.name + suffix))
        except OSError as err:
            raise HistoryError(
                f"{self.path}: not a sound history database ({problem}), and it could not be "
                f"moved aside: {err}"
            ) from None
        self.set_aside = target
        log.warning(
            "%s: not a sound history database (%s): moved to %s; a new one starts",
            self.path,
            problem,
            target,
        )


def _check(con: sqlite3.Connection) -> str | None:
    """None if the file is a sound SQLite database, else what is wrong (a lock is raised)."""
    try:
        verdict = con.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as err:
        if _is_locked(err):
            raise
        return str(err)
    return None if verdict == "ok" else str(verdict)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip() and not _only_comments(s)]


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


def _is_locked(err: sqlite3.Error) -> bool:
    return "locked" in str(err) or "busy" in str(err)


def _problem(err: sqlite3.Error) -> str:
    text = str(err)
    if _is_locked(err):
        return f"the history database is locked by another process ({text})"
    if "readonly" in text or "read-only" in text:
        return f"the history database is read-only ({text})"
    return text


def _session(row: sqlite3.Row) -> StoredSession:
    return StoredSession(
        id=row["id"],
        started=row["started"],
        source=row["source"],
        coach=row["coach"],
        seconds=row["seconds"],
        summary=SessionSummary.from_json(json.loads(row["summary"])),
    )


__all__ = [
    "DB_NAME",
    "HISTORY_ENV",
    "History",
    "HistoryError",
    "MIGRATIONS",
    "NoSuchSession",
    "SCHEMA_VERSION",
    "StoredSession",
    "default_history_path",
]
