"""``livefit predict``: run the streaming engine over every segment of a QEVD split and write the
prediction file that ``livefit evaluate`` reads.

Flow: ``load_segments`` -> each segment's feature steps [C, H, W] -> a fresh ``Session`` (system
prompt of the segment) -> its feedbacks -> one JSON line per segment:
``{"segment_id": ..., "feedbacks": [{"time": seconds from segment start, "text": ...}]}``.

Resumable per segment: lines are appended and flushed one segment at a time; a rerun skips the
segments already in the file (a torn last line, one that ends without a newline and starts as
our records do, is dropped first). The settings are written next to the output
(``<out>.config.json``), with the model's identity (the SHA-256 of every file in its folder, so
new weights at the same path count as another model), and a rerun with other settings is
refused, naming them; an engine field the stored file lacks (added since) counts as its default.
A file without that sidecar was not written by ``predict``: it is never appended to, truncated
or "resumed" (an empty file is the one exception: there is nothing in it to lose). One run at a
time per output: a run holds ``<out>.lock`` (``livefit.io.exclusive_output``) from before it
reads the sidecar until its last line, so a second run on the same ``--out`` is refused, naming
the first, instead of writing every segment again under its own settings; and a file that holds
a segment twice (two runs at once before the lock, or a hand edit) is refused on resume.

Any coach with the engine's interface drives it: ``--model`` is a Stream-VLM folder or a
built-in coach of ``livefit.baselines`` (``silent``, ``periodic``, ``oracle-coach``,
``socratic:URL|PATH``, ``turn:URL|PATH``), found through the registry in
``livefit.stream.coaches`` (this module never imports the baselines; importing
``livefit.baselines`` registers them).

Paper clock = the reference's evaluation loop: steps 1 .. N-2 of the segment are fed (it starts
at index 1 and stops when the next <vision> would need step N-1), times by the parity formula.
Wall clock: every step is pushed at its recorded time and decoding costs its real time on this
machine. Which of the two a clock wants is its ``streams_at_end`` (``livefit.stream.clocks``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from livefit.data.qevd import (
    ANNOTATION_FILE,
    EXTRACTION_MANIFEST,
    FEATURES_DIR,
    Segment,
    load_segments,
    split_dir,
)
from livefit.io import (
    FILE_MODE,
    JSONInputError,
    atomic_write_json,
    atomic_write_text,
    check_output_file,
    exclusive_output,
    naming_file,
    parse_json,
)
from livefit.model.clock import UNFED_LAST_STEPS
from livefit.model.stream_vlm import StreamVLM
from livefit.provenance import changed_settings, file_sha256, tree_sha256
from livefit.stream.clocks import make_clock
from livefit.stream.coaches import PredictError, builtin_names, coach_for
from livefit.stream.engine import EngineConfig, StreamEngine

RECORD_START = '{"segment_id": '  # how every line we write starts (json.dumps of our record)
SETTINGS_MAX_BYTES = 1 << 20  # a settings sidecar is a few KB; anything far larger is not one


def run_segment(
    engine: StreamEngine,
    segment: Segment,
    features: tuple[np.ndarray, np.ndarray] | None = None,
    load: DecodingLoad | None = None,
) -> list[dict[str, Any]]:
    """The feedbacks of one segment, as prediction-file records. ``features``: ``(steps [n, C, H,
    W], times [n])`` to stream instead of the segment's own (e.g. a control with another
    workout's features)."""
    feats, times = segment.load_features() if features is None else features
    a = engine.model.config.adapter if hasattr(engine, "model") else None  # rules read nothing
    if a is not None and (
        feats.shape[1] != a.feature_dim or feats.shape[2] * feats.shape[3] != a.feature_tokens
    ):
        raise PredictError(
            f"{segment.features}: feature steps {list(feats.shape[1:])} do not fit the model "
            f"(C={a.feature_dim}, H*W={a.feature_tokens})"
        )
    # A coach that must know its segment (oracle-coach: livefit.baselines.oracle) says so.
    extra = {"segment": segment} if getattr(engine, "wants_segment", False) else {}
    if make_clock(engine.config).streams_at_end:  # the paper clock: the reference's loop
        steps = feats[: len(feats) - UNFED_LAST_STEPS]
        with engine.start(segment.system, total_steps=len(steps), **extra) as session:
            for step in steps:
                for _ in session.push(step):
                    pass
    else:
        with engine.start(segment.system, t0=0.0, **extra) as session:
            for step, t in zip(feats, times, strict=True):
                for _ in session.push(step, t=float(t)):
                    pass
    if load is not None:
        load.add(session)
    return [{"time": float(t), "text": text} for t, text in session.feedbacks]


def data_identity(data_root: str | Path, split: str) -> dict[str, Any]:
    """Which version of the data a predictions file was made from: the annotations' hash and the
    CNN that made the features (``extraction.json``'s producer; None when not recorded)."""
    root = split_dir(data_root, split)  # type: ignore[arg-type]
    annotations = root / ANNOTATION_FILE
    manifest = root / FEATURES_DIR / EXTRACTION_MANIFEST
    features = None
    if manifest.is_file():
        try:
            features = json.loads(manifest.read_text()).get("producer_id")
        except (OSError, ValueError, AttributeError):
            features = "unreadable"
    return {
        "annotations_sha256": file_sha256(annotations) if annotations.is_file() else None,
        "features_producer": features,
    }


@dataclass
class DecodingLoad:
    """How much decoding the streams took: tokens per fed feature step (1.0 = only watching),
    the worst step, and the steps that hit the engine's per-step budget (a degenerate model)."""

    steps: int = 0
    tokens: float = 0.0
    max_step_tokens: int = 0
    budget_hits: int = 0
    warnings: list[str] = field(default_factory=list)

    def add(self, session: Any) -> None:
        self.steps += session.steps_seen
        self.tokens += session.tokens_per_step * session.steps_seen
        self.max_step_tokens = max(self.max_step_tokens, session.max_step_tokens)
        self.budget_hits += session.budget_hits
        self.warnings += [w for w in session.warnings if w not in self.warnings]

    def to_json(self) -> dict[str, Any]:
        per_step = self.tokens / self.steps if self.steps else 0.0
        return {
            "tokens_per_step": round(per_step, 3),
            "max_step_tokens": self.max_step_tokens,
            "budget_hits": self.budget_hits,
            "warnings": self.warnings,
        }


def sidecar(out: Path) -> Path:
    """``<out>.config.json``: the settings a predictions file was written with."""
    return out.with_name(out.name + ".config.json")


def check_out_path(out: Path) -> None:
    """``--out`` must be a file path whose folders are folders (or can be made), and so must
    its settings sidecar's."""
    check_output_file(out, "--out", kind="predictions file")
    check_output_file(sidecar(out), "--out", kind="settings file")


def _done_segments(out: Path) -> set[str]:
    """Segment ids already written; rewrites the file without a torn last line (one without its
    newline that starts like our records: the write a kill interrupted). Anything else that is
    not one of our records is refused, never dropped; so is a segment written twice (which of
    its predictions counts?)."""
    if not out.is_file():
        return set()
    try:
        lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        raise PredictError(f"{out}: not a UTF-8 predictions file; refusing to append") from None
    good: list[str] = []
    done: dict[str, int] = {}  # segment id -> its line
    for i, line in enumerate(lines):
        ours = line.startswith(RECORD_START) or RECORD_START.startswith(line)
        torn = i == len(lines) - 1 and not line.endswith("\n") and ours
        try:
            record = parse_json(line, f"{out}:{i + 1}")  # deep nesting: not a line of ours
            ok = line.endswith("\n") and isinstance(record, dict)
            ok = ok and isinstance(record.get("segment_id"), str)
        except ValueError:
            ok = False
        if not ok:
            if torn:
                break  # interrupted while writing: redo that segment
            raise PredictError(
                f"{out}:{i + 1}: not a prediction line; refusing to append"
            ) from None
        first = done.setdefault(record["segment_id"], i + 1)
        if first != i + 1:
            raise PredictError(
                f"{out}:{i + 1}: segment {record['segment_id']!r} again (first on line {first}): "
                "two runs wrote this file; refusing to resume it: choose a new --out"
            )
        good.append(line)
    if len(good) != len(lines):
        atomic_write_text(out, "".join(good))
    return set(done)


def _read_settings(out: Path) -> dict[str, Any] | None:
    """The settings ``out`` was written with; None for a fresh start (no file, or an empty one
    without a sidecar). Refuses a non-empty file with no sidecar: not ours to resume."""
    meta = sidecar(out)
    if not out.is_file():
        return None
    if not meta.is_file():
        if out.stat().st_size == 0:
            return None
        raise PredictError(
            f"{out}: exists but has no {meta.name} beside it, so livefit predict did not write "
            "it (or its settings are lost); refusing to append to or truncate it: choose a new "
            "--out or move the file away"
        )
    try:
        stored = parse_json(meta.read_bytes(), str(meta), max_bytes=SETTINGS_MAX_BYTES)
    except JSONInputError as err:
        raise PredictError(f"{err} (the settings file of {out.name})") from None
    except OSError as err:
        raise PredictError(f"{meta}: unreadable settings file ({err})") from None
    if not isinstance(stored, dict):
        raise PredictError(f"{meta}: not a predictions settings file")
    return stored


def _changed_settings(previous: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """Names of the settings that differ, as ``"engine.clock"``. An engine field the stored file
    lacks (added to ``EngineConfig`` after the file was started) counts as its default; a
    changed model file shows as ``model_sha256`` with the file's name."""
    defaults = {"engine": asdict(EngineConfig())} if "engine" in settings else None
    names = changed_settings(previous, settings, defaults=defaults)
    files = sorted(
        {n.removeprefix("model_sha256.") for n in names if n.startswith("model_sha256.")}
    )
    others = [n for n in names if not n.startswith("model_sha256.")]
    return others + ([f"model_sha256 ({', '.join(files)})"] if files else [])


def predict(
    data_root: str | Path,
    model_path: str | Path,
    out: str | Path,
    split: str = "test",
    mode: str = "single_exercise",
    config: EngineConfig | None = None,
    device: str = "cpu",
    limit: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Predict every segment of ``split`` (the first ``limit``); returns a small summary."""
    config = config or EngineConfig()
    out = Path(out)
    if limit is not None and limit < 1:
        raise PredictError(f"--limit must be a positive number of segments, not {limit}")
    check_out_path(out)
    segments = load_segments(data_root, split, mode)  # type: ignore[arg-type]
    if limit is not None:
        segments = segments[:limit]
    model_dir = Path(model_path)
    rule = coach_for(model_path)
    if rule is None and not model_dir.is_dir():
        names = ", ".join(builtin_names()) or "none registered: import livefit.baselines first"
        raise FileNotFoundError(
            f"{model_dir}: model directory is missing (or give a built-in coach: {names})"
        )
    settings = {
        "data_root": str(Path(data_root).resolve()),
        "split": split,
        "mode": mode,
        "data": data_identity(data_root, split),
    }
    if rule is not None:
        settings["model"] = rule.settings()
    else:
        settings["model"] = str(model_dir.resolve())
        settings["model_sha256"] = tree_sha256(model_dir)
        settings["engine"] = asdict(config)
    # The lock is held before the sidecar is read: a second run can neither pass its check
    # nor rewrite it under the first one.
    with exclusive_output(out, "--out", "livefit predict"):
        stored = _read_settings(out)
        if stored is not None:
            changed = _changed_settings(stored, settings)
            if changed:
                raise PredictError(
                    f"{out}: was started with other settings ({sidecar(out)}: "
                    f"{', '.join(changed)}); use a new --out to change them"
                )
        done = _done_segments(out)
        atomic_write_json(sidecar(out), settings)
        todo = [s for s in segments if s.segment_id not in done]
        engine: Any = rule
        if rule is None and todo:  # a finished file: no model to load
            model = StreamVLM.from_pretrained(model_path, device=device)
            torch.manual_seed(config.seed)
            engine = StreamEngine(model, config)
        n_feedbacks = 0
        load = DecodingLoad()
        out.parent.mkdir(parents=True, exist_ok=True)
        # Unbuffered appends: a failed write (a full disk) leaves no buffer for close() to
        # retry, and its error names the file, not only "[Errno 28]".
        fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            for seg in tqdm(todo, desc="predict", unit="segment", disable=not progress):
                feedbacks = run_segment(engine, seg, load=load)
                n_feedbacks += len(feedbacks)
                line = json.dumps({"segment_id": seg.segment_id, "feedbacks": feedbacks})
                with naming_file(out):
                    _append(fd, (line + "\n").encode("utf-8"))
        finally:
            os.close(fd)
    return {
        "segments": len(segments),
        "skipped": len(done),
        "new_feedbacks": n_feedbacks,
        "decoding": load.to_json(),
    }


def _append(fd: int, data: bytes) -> None:
    """Write all of ``data`` at the end of ``fd`` and on to the disk (one segment's line)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def engine_config(clock: str, **overrides: Any) -> EngineConfig:
    return replace(EngineConfig(), clock=clock, **overrides)  # type: ignore[arg-type]


__all__ = ["PredictError", "check_out_path", "engine_config", "predict", "run_segment", "sidecar"]
