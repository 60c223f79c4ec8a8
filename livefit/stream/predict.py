"""``livefit predict``: run the streaming engine over every segment of a QEVD split and write the
prediction file that ``livefit evaluate`` reads.

Flow: ``load_segments`` -> each segment's feature steps [C, H, W] -> a fresh ``Session`` (system
prompt of the segment) -> its feedbacks -> one JSON line per segment:
``{"segment_id": ..., "feedbacks": [{"time": seconds from segment start, "text": ...}]}``.

Resumable per segment: lines are appended and flushed one segment at a time; a rerun skips the
segments already in the file (a torn last line is dropped first). The settings are written next
to the output (``<out>.config.json``) and a rerun with other settings is refused, naming them; an
engine field the stored file lacks (added since) counts as its default.

Paper clock = the reference's evaluation loop: steps 1 .. N-2 of the segment are fed (it starts
at index 1 and stops when the next <vision> would need step N-1), times by the parity formula.
Wall clock: every step is pushed at its recorded time and decoding costs its real time on this
machine.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from livefit.data.qevd import Segment, load_segments
from livefit.io import atomic_write_json, atomic_write_text
from livefit.stream.engine import EngineConfig, StreamEngine


class PredictError(ValueError):
    """Bad input to ``predict``; the message names the file and the problem."""


def run_segment(
    engine: StreamEngine,
    segment: Segment,
    features: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[dict[str, Any]]:
    """The feedbacks of one segment, as prediction-file records. ``features``: ``(steps [n, C, H,
    W], times [n])`` to stream instead of the segment's own (e.g. a control with another
    workout's features)."""
    a = engine.model.config.adapter
    feats, times = segment.load_features() if features is None else features
    if feats.shape[1] != a.feature_dim or feats.shape[2] * feats.shape[3] != a.feature_tokens:
        raise PredictError(
            f"{segment.features}: feature steps {list(feats.shape[1:])} do not fit the model "
            f"(C={a.feature_dim}, H*W={a.feature_tokens})"
        )
    if engine.config.clock == "paper":
        steps = feats[:-1]
        with engine.start(segment.system, total_steps=len(steps)) as session:
            for step in steps:
                for _ in session.push(step):
                    pass
    else:
        with engine.start(segment.system, t0=0.0) as session:
            for step, t in zip(feats, times, strict=True):
                for _ in session.push(step, t=float(t)):
                    pass
    return [{"time": float(t), "text": text} for t, text in session.feedbacks]


def _done_segments(out: Path) -> set[str]:
    """Segment ids already written; rewrites the file without a torn last line."""
    if not out.is_file():
        return set()
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    good, done = [], set()
    for i, line in enumerate(lines):
        try:
            record = json.loads(line)
            if not line.endswith("\n"):
                raise ValueError("torn line")
        except ValueError:
            if i == len(lines) - 1:
                break  # interrupted while writing: redo that segment
            raise PredictError(
                f"{out}:{i + 1}: not a prediction line; refusing to append"
            ) from None
        done.add(record["segment_id"])
        good.append(line)
    if len(good) != len(lines):
        atomic_write_text(out, "".join(good))
    return done


def _changed_settings(previous: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """Names of the settings that differ, as ``"engine.clock"``. An engine field the stored file
    lacks (added to ``EngineConfig`` after the file was started) counts as its default."""

    def flat(d: dict[str, Any]) -> dict[str, Any]:
        engine = {f"engine.{k}": v for k, v in d.get("engine", {}).items()}
        return {**{k: v for k, v in d.items() if k != "engine"}, **engine}

    before = flat({**previous, "engine": {**asdict(EngineConfig()), **previous.get("engine", {})}})
    now = flat(settings)
    return sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))


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
    import torch
    from tqdm import tqdm

    from livefit.model.stream_vlm import StreamVLM

    config = config or EngineConfig()
    out = Path(out)
    segments = load_segments(data_root, split, mode)  # type: ignore[arg-type]
    if limit is not None:
        segments = segments[:limit]
    settings = {
        "data_root": str(Path(data_root).resolve()),
        "split": split,
        "mode": mode,
        "model": str(Path(model_path).resolve()),
        "engine": asdict(config),
    }
    meta = out.with_name(out.name + ".config.json")
    if meta.is_file() and out.is_file():
        changed = _changed_settings(json.loads(meta.read_text()), settings)
        if changed:
            raise PredictError(
                f"{out}: was started with other settings ({meta}: {', '.join(changed)}); "
                "use a new --out to change them"
            )
    model = StreamVLM.from_pretrained(model_path, device=device)
    torch.manual_seed(config.seed)
    engine = StreamEngine(model, config)
    done = _done_segments(out)
    atomic_write_json(meta, settings)
    todo = [s for s in segments if s.segment_id not in done]
    n_feedbacks = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as f:
        for seg in tqdm(todo, desc="predict", unit="segment", disable=not progress):
            feedbacks = run_segment(engine, seg)
            n_feedbacks += len(feedbacks)
            f.write(json.dumps({"segment_id": seg.segment_id, "feedbacks": feedbacks}) + "\n")
            f.flush()
            os.fsync(f.fileno())
    return {"segments": len(segments), "skipped": len(done), "new_feedbacks": n_feedbacks}


def engine_config(clock: str, **overrides: Any) -> EngineConfig:
    return replace(EngineConfig(), clock=clock, **overrides)  # type: ignore[arg-type]


__all__ = ["PredictError", "engine_config", "predict", "run_segment"]
