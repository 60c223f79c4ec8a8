"""Contact sheet of a QEVD-SIM dataset: a PNG grid of frames with labels and the coach's lines.

A debugging and documentation view over the generator's output (``livefit data contact-sheet``):
frames sampled evenly over one long-range workout, each captioned with its time, ground-truth
fine-grained label and rep count (from the sidecar) and the line the coach is saying (or said
last), followed by the middle frame of the first short clips with their label and feedback.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livefit.data.qevd import SPLIT_DIRS, QEVDFormatError, Workout, load_workouts
from livefit.io import atomic_write, parse_json

SCALE = 1.5  # frames are enlarged so the captions stay readable
FONT = cv2.FONT_HERSHEY_SIMPLEX
CAPTION_LINES = 5


class ContactSheetError(ValueError):
    """The data root does not hold what the contact sheet needs."""


def _caption(tile_w: int, lines: list[tuple[str, tuple[int, int, int]]]) -> np.ndarray:
    strip = np.full((CAPTION_LINES * 13 + 6, tile_w, 3), 250, np.uint8)
    y = 12
    wrapped: list[tuple[str, tuple[int, int, int]]] = []
    for text, colour in lines:
        wrapped += [(w, colour) for w in textwrap.wrap(text, width=int(tile_w / 6.2)) or [""]]
    for text, colour in wrapped[:CAPTION_LINES]:
        cv2.putText(strip, text, (3, y), FONT, 0.36, colour, 1, cv2.LINE_AA)
        y += 13
    return strip


def _tile(frame: np.ndarray, lines: list[tuple[str, tuple[int, int, int]]]) -> np.ndarray:
    big = cv2.resize(frame, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_LINEAR)
    tile = np.concatenate([big, _caption(big.shape[1], lines)], axis=0)
    return cv2.copyMakeBorder(tile, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255))


def _frames_at(video: Path, wanted: list[int]) -> dict[int, np.ndarray]:
    """The frames of ``video`` at the indices ``wanted``; a missing or undecodable video is a
    ``ContactSheetError`` naming it."""
    import av

    out: dict[int, np.ndarray] = {}
    want = set(wanted)
    if not video.is_file():
        raise ContactSheetError(f"{video}: video is missing")
    try:
        with av.open(str(video)) as src:
            if not src.streams.video:
                raise ContactSheetError(f"{video}: no video stream")
            for i, frame in enumerate(src.decode(video=0)):
                if i in want:
                    out[i] = frame.to_ndarray(format="rgb24")
                if len(out) == len(want):
                    break
    except (av.error.FFmpegError, OSError) as err:
        raise ContactSheetError(f"{video}: cannot decode the video ({err})") from None
    return out


def _read_json(path: Path, what: str) -> Any:
    try:
        return parse_json(path.read_bytes(), str(path))
    except FileNotFoundError:
        raise ContactSheetError(f"{path}: {what} is missing") from None
    except (OSError, ValueError) as err:
        raise ContactSheetError(f"{path}: unreadable {what} ({err})") from None


def _grid(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    pad = [
        np.pad(t, ((0, h - t.shape[0]), (0, w - t.shape[1]), (0, 0)), constant_values=255)
        for t in tiles
    ]
    while len(pad) % columns:
        pad.append(np.full((h, w, 3), 255, np.uint8))
    rows = [np.concatenate(pad[i : i + columns], 1) for i in range(0, len(pad), columns)]
    return np.concatenate(rows, 0)


def _title(text: str, width: int) -> np.ndarray:
    strip = np.full((26, width, 3), 255, np.uint8)
    cv2.putText(strip, text, (6, 18), FONT, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return strip


@dataclass(frozen=True)
class _Truth:
    """One workout's ground truth as the sheet shows it."""

    workout: Workout
    meta: dict[str, Any]  # the sidecar JSON: participant, mirrored, exercises, the record
    gt: dict[str, np.ndarray]  # the sidecar .npz: per-frame reps and fine_label ids
    classes: list[str]  # fine-grained class names, by id
    feedbacks: list[str]  # the coach's line on each frame ("" when silent)
    frames: int  # annotated frames


def _load_truth(data_root: Path, split: str, workout: int) -> _Truth:
    """Workout ``workout`` of ``split`` with its QEVD-SIM ground truth, or a
    ``ContactSheetError`` saying what is missing."""
    try:
        workouts = load_workouts(data_root, split)  # type: ignore[arg-type]
    except QEVDFormatError as err:
        raise ContactSheetError(str(err)) from None
    if not 0 <= workout < len(workouts):
        raise ContactSheetError(f"{data_root}: split {split} has {len(workouts)} workouts")
    w = workouts[workout]
    side = w.split_dir / Path(w.video_file).with_name(f"{w.stem}_groundtruth.json")
    if not side.is_file():
        raise ContactSheetError(f"{side}: ground-truth sidecar is missing (not QEVD-SIM data?)")
    try:
        meta = _read_json(side, "ground-truth sidecar")
        gt = dict(np.load(side.with_suffix(".npz")))
        classes = _read_json(data_root / "QEVD-FIT-300K" / "labels.json", "label file")[
            "fine_grained"
        ]
        record = meta["record"]
        n = len(record["feedbacks"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ContactSheetError(f"{side}: not a QEVD-SIM ground truth ({err!r})") from None
    return _Truth(w, meta, gt, classes, record["feedbacks"], n)


def _workout_grid(truth: _Truth, columns: int, rows: int) -> np.ndarray:
    """``columns x rows`` frames spread evenly over the workout, captioned."""
    w, feedbacks = truth.workout, truth.feedbacks
    picks = np.linspace(0, truth.frames - 1, columns * rows).round().astype(int).tolist()
    frames = _frames_at(w.video, picks)
    short = [i for i in picks if i not in frames]
    if short:
        raise ContactSheetError(
            f"{w.video}: frame {short[0]} cannot be decoded ({len(feedbacks)} frames "
            "annotated); the video is truncated or corrupt"
        )
    times = w.frame_times - w.frame_times[0]
    tiles = []
    for i in picks:
        said = feedbacks[i]
        if not said:  # the last line said, if any, within 3 s
            back = [j for j in range(max(0, i - 90), i) if feedbacks[j]]
            said = f"(after: {feedbacks[back[-1]]})" if back else "(silent)"
        lines = [
            (f"t={times[i]:.1f}s  reps={int(truth.gt['reps'][i])}", (90, 90, 90)),
            (truth.classes[int(truth.gt["fine_label"][i])], (20, 20, 160)),
            (f"coach: {said}", (0, 110, 0)),
        ]
        tiles.append(_tile(frames[i], lines))
    return _grid(tiles, columns)


def _clip_grid(data_root: Path, split: str, clips: int, columns: int) -> np.ndarray | None:
    """The middle frame of the split's first ``clips`` short clips, captioned (None: none)."""
    clip_json = data_root / "QEVD-FIT-300K" / ("train" if split == "train" else "test")
    clip_file = clip_json / "clips.json"
    if clips <= 0 or not clip_file.is_file():
        return None
    records = _read_json(clip_file, "clip list")[:clips]
    tiles = []
    for r in records:
        n_frames = len(r["frame_labels"])
        mid = n_frames // 2
        frame = _frames_at(clip_json / r["video_file"], [mid]).get(mid)
        if frame is None:
            continue
        lines = [
            (f"{r['clip_id']}  {r['participant']}", (90, 90, 90)),
            (r["frame_labels"][mid], (20, 20, 160)),
            (f"coach: {' '.join(r['feedbacks'])}", (0, 110, 0)),
        ]
        tiles.append(_tile(frame, lines))
    return _grid(tiles, columns) if tiles else None


def _write_png(sheet: list[np.ndarray], out: Path) -> None:
    """Stack the parts (white-padded to one width) and write them as a PNG."""
    width = max(s.shape[1] for s in sheet)
    sheet = [
        np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in sheet
    ]
    img = np.concatenate(sheet, 0)
    ok, png = cv2.imencode(".png", img[..., ::-1])
    if not ok:
        raise ContactSheetError(f"{out}: PNG encoding failed")
    atomic_write(out, lambda f: f.write(png.tobytes()))


def make_contact_sheet(
    data_root: Path,
    out: Path,
    split: str = "test",
    workout: int = 0,
    columns: int = 6,
    rows: int = 4,
    clips: int = 12,
) -> None:
    """Write the contact sheet PNG of ``data_root`` to ``out``."""
    data_root = Path(data_root)
    truth = _load_truth(data_root, split, workout)
    grid = _workout_grid(truth, columns, rows)
    meta = truth.meta
    title = (
        f"{data_root.name} / {SPLIT_DIRS[split]} / {truth.workout.video_file}  "
        f"participant {meta['participant']}  mirrored={meta['mirrored']}  "
        f"exercises: {', '.join(meta['exercises'])}"
    )
    sheet = [_title(title, grid.shape[1]), grid]
    clip_grid = _clip_grid(data_root, split, clips, columns)
    if clip_grid is not None:
        sheet += [
            _title("short clips (QEVD-FIT-300K layout), middle frame", clip_grid.shape[1]),
            clip_grid,
        ]
    _write_png(sheet, out)


__all__ = ["ContactSheetError", "make_contact_sheet"]
