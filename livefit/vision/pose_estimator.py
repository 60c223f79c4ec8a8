"""Body-landmark estimator for live video: MediaPipe Pose's two models (BlazePose detector +
full landmark model) run through LiteRT, with our own pre- and post-processing.

Sits before ``livefit.vision.pose`` (the pose encoder): frames in, ``[33, 4]`` landmarks out in
``livefit.data.landmarks`` format (x, y in pixels of the frame, z in the same pixel scale,
visibility in [0, 1]). The ``mediapipe`` wheel is not a dependency; only its two ``.tflite`` files
are (``bash scripts/fetch_pose_models.sh``), run with ``ai_edge_litert``.

Pipeline per frame, as MediaPipe's ``PoseLandmarkCpu`` graph (0.10.14) without smoothing:

1. ROI. Tracking (the previous frame had a pose): from the previous frame's auxiliary landmarks
   33 (hip centre) and 34 (full-body scale/rotation point), one-euro filtered over time as
   MediaPipe does (min cutoff 0.01, beta 10, derivative cutoff 1). Otherwise the detector:
   letterbox the frame into 224x224 in [-1, 1] -> 2254 SSD anchors x (box, 4 keypoints, score)
   -> sigmoid scores >= threshold -> weighted NMS -> first detection's keypoints 0 (hip centre)
   and 1 (scale/rotation point).
   Both give a rotated square: centre = point 0, side = 2 |p1 - p0| * 1.25, rotated so that
   p0 -> p1 points up in the crop.
2. Landmarks: the ROI cropped to 256x256 in [0, 1] -> 39 x (x, y, z, visibility, presence) in
   crop pixels, a pose-presence score, a 64x64x39 heatmap that refines x, y -> back to frame
   pixels (undo crop scale and rotation).

Geometry convention (MediaPipe's ImageToTensor): a crop of side ``n`` maps its corner (0, 0) to
the ROI's top-left corner and (n, n) to its bottom-right, so crop point (u, v) in [0, 1] is
``centre + R(theta) @ ((u - 0.5) * size, (v - 0.5) * size)`` in the frame.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livefit.data.landmarks import NUM_LANDMARKS, LandmarkTrack
from livefit.provenance import file_sha256
from livefit.vision.preprocess import (
    VideoError,
    decoded_frames,
    first_seconds,
    resample_indices,
    rgb_array,
)

DETECTOR_FILE = "pose_detection.tflite"
LANDMARK_FILE = "pose_landmark_full.tflite"
# Where scripts/fetch_pose_models.sh puts them: the checkout's .cache, whatever the working dir.
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / ".cache" / "pose_models"
FETCH_COMMAND = "bash scripts/fetch_pose_models.sh"
INSTALL_COMMAND = "pip install ai-edge-litert"

DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
NUM_MODEL_LANDMARKS = 39  # 33 pose + 2 auxiliary (hip centre, scale point) + 4 unused
ROI_SCALE = 1.25  # RectTransformationCalculator scale in PoseDetectionToRoi / PoseLandmarksToRoi
NMS_IOU = 0.3
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5


class PoseEstimatorError(ValueError):
    """The estimator cannot run; the one-line message says what is missing and how to get it."""


@dataclass(frozen=True)
class PoseEstimatorConfig:
    """How the estimator runs; defaults are MediaPipe Pose's (``model_complexity=1``)."""

    models_dir: Path | None = None
    """Folder holding the two .tflite files; None: ``$LIVEFIT_POSE_MODELS`` or the checkout's
    ``.cache/pose_models`` (what ``scripts/fetch_pose_models.sh`` fills)."""
    detection_threshold: float = 0.5
    """Minimum sigmoid score of a detector box (MediaPipe's ``min_detection_confidence``)."""
    presence_threshold: float = 0.5
    """Minimum pose-presence score of the landmark model; below it the frame has no pose and the
    next frame runs the detector (MediaPipe's ``min_tracking_confidence``)."""
    tracking: bool = True
    """Take the next ROI from this frame's landmarks instead of running the detector (video).
    False: every frame runs the detector (MediaPipe's ``static_image_mode``)."""
    num_threads: int = 1
    """LiteRT interpreter threads per model."""
    refine_with_heatmap: bool = True
    """Refine x, y with the landmark model's heatmap (MediaPipe does, kernel 7)."""
    smooth_tracking_roi: bool = True
    """One-euro filter the two auxiliary landmarks before they give the next ROI (MediaPipe
    always does, even with ``smooth_landmarks=False``; it steadies the crop). The 33 output
    landmarks are never smoothed here."""
    default_fps: float = 30.0
    """Frame rate assumed by the ROI filter when ``estimate`` gets no time (MediaPipe's Python
    solution assumes 30 fps)."""

    def resolved_models_dir(self) -> Path:
        if self.models_dir is not None:
            return Path(self.models_dir)
        return Path(os.environ.get("LIVEFIT_POSE_MODELS", DEFAULT_MODELS_DIR))


@dataclass(frozen=True)
class Roi:
    """A rotated square region of the frame, in pixels."""

    cx: float
    cy: float
    size: float  # side length
    rotation: float  # radians, clockwise on screen (y down); 0 = upright


@dataclass(frozen=True)
class PoseResult:
    """One frame's estimate, with what produced it (for tracking diagnostics and timing)."""

    points: np.ndarray  # [33, 4] float32: x, y, z (pixels), visibility; zeros when no pose
    presence: float  # pose-presence score of the landmark model (0 when it did not run)
    roi: Roi | None  # the ROI the landmark model ran on (None: detector found nobody)
    detected: bool  # True: the ROI came from the detector; False: from the previous landmarks


# ---------------------------------------------------------------------------------------------
# Geometry (pure numpy, tested without the models)
# ---------------------------------------------------------------------------------------------


def ssd_anchors(
    input_size: int = DETECTOR_SIZE,
    strides: tuple[int, ...] = (8, 16, 32, 32, 32),
    min_scale: float = 0.1484375,
    max_scale: float = 0.75,
) -> np.ndarray:
    """Anchor centres ``[N, 2]`` (x, y in [0, 1]) of the pose detector, in its output order.

    MediaPipe's SsdAnchorsCalculator with the detector's options (one aspect ratio 1.0 plus one
    interpolated-scale anchor per layer, fixed anchor size, offset 0.5): consecutive layers with
    the same stride share one feature map, so each cell of a map holds 2 anchors per layer
    merged into it. With a fixed anchor size only the centres matter (width = height = 1).
    224 input: 28x28x2 + 14x14x2 + 7x7x6 = 2254 anchors.
    """
    centres = []
    layer = 0
    while layer < len(strides):
        per_cell = 0
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            per_cell += 2  # aspect ratio 1.0 + the interpolated scale
            last += 1
        fm = math.ceil(input_size / strides[layer])
        ys, xs = np.meshgrid((np.arange(fm) + 0.5) / fm, (np.arange(fm) + 0.5) / fm, indexing="ij")
        cell = np.stack([xs.ravel(), ys.ravel()], axis=1)  # [fm*fm, 2], row-major (y outer)
        centres.append(np.repeat(cell, per_cell, axis=0))
        layer = last
    return np.concatenate(centres).astype(np.float32)
    # min_scale / max_scale only set anchor sizes, which a fixed-size detector ignores.


def rotation_matrix(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]], dtype=np.float64)


def roi_from_points(p0: np.ndarray, p1: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """MediaPipe's AlignmentPointsRectsCalculator (target angle 90 degrees) followed by
    RectTransformationCalculator (square, ``scale``): centre at ``p0``, side
    ``2 |p1 - p0| * scale``, rotated so that the direction p0 -> p1 points up in the crop.
    Points in pixels."""
    dx, dy = float(p1[0] - p0[0]), float(p1[1] - p0[1])
    theta = math.pi / 2 - math.atan2(-dy, dx)
    theta = theta - 2 * math.pi * math.floor((theta + math.pi) / (2 * math.pi))  # to [-pi, pi)
    size = 2.0 * math.hypot(dx, dy) * scale
    return Roi(float(p0[0]), float(p0[1]), size, theta)


def crop_to_frame_matrix(roi: Roi, out_size: int) -> np.ndarray:
    """``[2, 3]`` affine taking crop pixel coordinates (0..out_size, corner convention) to frame
    pixels: ``frame = centre + R @ (k * uv - size / 2)``, k = size / out_size."""
    r = rotation_matrix(roi.rotation)
    k = roi.size / out_size
    m = np.empty((2, 3), dtype=np.float64)
    m[:, :2] = k * r
    m[:, 2] = np.array([roi.cx, roi.cy]) - r @ np.array([roi.size / 2, roi.size / 2])
    return m


def crop_to_frame(uv: np.ndarray, roi: Roi) -> np.ndarray:
    """Crop points ``[..., 2]`` normalised to [0, 1] -> frame pixels ``[..., 2]``."""
    r = rotation_matrix(roi.rotation)
    local = (np.asarray(uv, dtype=np.float64) - 0.5) * roi.size
    return local @ r.T + np.array([roi.cx, roi.cy])


def frame_to_crop(xy: np.ndarray, roi: Roi) -> np.ndarray:
    """Frame pixels ``[..., 2]`` -> crop coordinates normalised to [0, 1] (inverse of
    ``crop_to_frame``)."""
    r = rotation_matrix(roi.rotation)
    local = (np.asarray(xy, dtype=np.float64) - np.array([roi.cx, roi.cy])) @ r
    return local / roi.size + 0.5


def crop(frame: np.ndarray, roi: Roi, out_size: int, border: int) -> np.ndarray:
    """The ROI resampled to ``[out_size, out_size, 3]`` uint8 (bilinear), MediaPipe's
    ImageToTensor geometry."""
    m = crop_to_frame_matrix(roi, out_size)
    return cv2.warpAffine(
        frame,
        m,
        (out_size, out_size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=border,
        borderValue=(0, 0, 0),
    )


def letterbox_roi(width: int, height: int) -> Roi:
    """The whole frame padded to a centred square (the detector's keep-aspect-ratio input)."""
    return Roi(width / 2.0, height / 2.0, float(max(width, height)), 0.0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))  # no exp overflow


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, extra: np.ndarray, iou_threshold: float = NMS_IOU
) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """MediaPipe's weighted non-max suppression. ``boxes [N, 4]`` (xmin, ymin, xmax, ymax),
    ``scores [N]``, ``extra [N, K]`` (keypoints) averaged along with the boxes. Returns
    ``(score, box, extra)`` best first; each output is the score-weighted mean of the boxes that
    overlap the best remaining one by more than ``iou_threshold``, with that box's score."""
    order = np.argsort(-scores, kind="stable")
    out = []
    while len(order):
        best = order[0]
        b = boxes[order]
        ix = np.clip(
            np.minimum(b[:, 2], boxes[best, 2]) - np.maximum(b[:, 0], boxes[best, 0]), 0, None
        )
        iy = np.clip(
            np.minimum(b[:, 3], boxes[best, 3]) - np.maximum(b[:, 1], boxes[best, 1]), 0, None
        )
        inter = ix * iy
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        union = area + area[0] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        group = iou > iou_threshold
        group[0] = True
        members = order[group]
        w = scores[members][:, None]
        out.append(
            (
                float(scores[best]),
                (boxes[members] * w).sum(0) / w.sum(),
                (extra[members] * w).sum(0) / w.sum(),
            )
        )
        order = order[~group]
    return out


def refine_from_heatmap(
    xy: np.ndarray,
    heatmap: np.ndarray,
    kernel: int = HEATMAP_KERNEL,
    min_confidence: float = HEATMAP_MIN_CONFIDENCE,
) -> np.ndarray:
    """MediaPipe's RefineLandmarksFromHeatmap: each landmark ``xy [L, 2]`` (normalised crop
    coordinates) becomes the sigmoid-weighted mean cell position of a ``kernel``-wide window of
    its heatmap channel ``heatmap [h, w, L]`` (logits) around it, when that window's max
    confidence reaches ``min_confidence``; landmarks off the heatmap stay."""
    h, w, _ = heatmap.shape
    out = xy.copy()
    half = (kernel - 1) // 2
    for i, (x, y) in enumerate(xy):
        col, row = int(x * w), int(y * h)  # truncation toward zero, as the C++ cast
        if not (0 <= col < w and 0 <= row < h):
            continue
        r0, r1 = max(0, row - half), min(h, row + half + 1)
        c0, c1 = max(0, col - half), min(w, col + half + 1)
        conf = sigmoid(heatmap[r0:r1, c0:c1, i].astype(np.float64))
        total = conf.sum()
        if conf.max() >= min_confidence and total > 0:
            rows, cols = np.mgrid[r0:r1, c0:c1]
            out[i, 0] = (cols * conf).sum() / total / w
            out[i, 1] = (rows * conf).sum() / total / h
    return out


# ---------------------------------------------------------------------------------------------
# The estimator
# ---------------------------------------------------------------------------------------------


class OneEuroFilter:
    """MediaPipe's one-euro filter (LandmarksSmoothingCalculator) on a vector of values: a
    low-pass filter whose cutoff rises with the (scaled) speed, so slow motion is steadied and
    fast motion is followed. ``value_scale`` (1 / object size) makes ``beta`` size-invariant."""

    def __init__(
        self,
        min_cutoff: float = 0.01,
        beta: float = 10.0,
        derivative_cutoff: float = 1.0,
        frequency: float = 30.0,
    ) -> None:
        self.min_cutoff, self.beta, self.derivative_cutoff = min_cutoff, beta, derivative_cutoff
        self.frequency = frequency
        self._last_time: float | None = None
        self._last_raw: np.ndarray | None = None
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * self.frequency)

    def __call__(self, time: float, value: np.ndarray, value_scale: float) -> np.ndarray:
        if self._last_time is not None:
            if time <= self._last_time:
                return value  # as MediaPipe: a repeated or older time passes the value through
            self.frequency = 1.0 / (time - self._last_time)
        self._last_time = time
        speed = (
            np.zeros_like(value)
            if self._last_raw is None
            else (value - self._last_raw) * value_scale * self.frequency
        )
        a = self._alpha(self.derivative_cutoff)
        self._speed = speed if self._speed is None else a * speed + (1 - a) * self._speed
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self._speed))
        self._value = value if self._value is None else a * value + (1 - a) * self._value
        self._last_raw = value
        return self._value


class PoseEstimator:
    """MediaPipe Pose (full) on LiteRT. Holds one video stream's tracking state: use one
    estimator per stream, ``reset()`` between videos."""

    def __init__(self, detector, landmarker, config: PoseEstimatorConfig) -> None:
        self.config = config
        self._detector = detector
        self._landmarker = landmarker
        self._anchors = ssd_anchors()
        det_out = {tuple(d["shape"][1:]): d["index"] for d in detector.get_output_details()}
        self._det_in = detector.get_input_details()[0]["index"]
        self._det_raw = det_out[(len(self._anchors), 12)]  # [1, 2254, 12] boxes + keypoints
        self._det_score = det_out[(len(self._anchors), 1)]  # [1, 2254, 1] logits
        lm_out = {tuple(d["shape"][1:]): d["index"] for d in landmarker.get_output_details()}
        self._lm_in = landmarker.get_input_details()[0]["index"]
        self._lm_raw = lm_out[(NUM_MODEL_LANDMARKS * 5,)]  # [1, 195]
        self._lm_flag = lm_out[(1,)]  # [1, 1] pose presence (a probability)
        self._lm_heatmap = lm_out[(64, 64, NUM_MODEL_LANDMARKS)]  # [1, 64, 64, 39] logits
        self._track_roi: Roi | None = None
        self._aux_filter = OneEuroFilter()
        self._clock = 0.0

    @classmethod
    def load(
        cls, folder: str | Path | None = None, config: PoseEstimatorConfig | None = None
    ) -> PoseEstimator:
        """Both models from ``folder`` (default: the config's models folder). Raises
        ``PoseEstimatorError`` naming what is missing and the command that provides it."""
        config = config or PoseEstimatorConfig()
        if folder is not None:
            config = replace(config, models_dir=Path(folder))
        root = config.resolved_models_dir()
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:
            raise PoseEstimatorError(
                f"ai_edge_litert is not installed ({e}); run `{INSTALL_COMMAND}`"
            ) from None
        if not root.is_dir():
            raise PoseEstimatorError(
                f"pose models folder {root} does not exist; run `{FETCH_COMMAND}`"
            )
        interpreters = []
        for name in (DETECTOR_FILE, LANDMARK_FILE):
            path = root / name
            if not path.is_file():
                raise PoseEstimatorError(f"{path} is missing; run `{FETCH_COMMAND}`")
            try:
                it = Interpreter(model_path=str(path), num_threads=config.num_threads)
                it.allocate_tensors()
            except (ValueError, RuntimeError) as e:
                raise PoseEstimatorError(
                    f"{path} cannot be loaded ({e}); re-run `{FETCH_COMMAND}`"
                ) from None
            interpreters.append(it)
        return cls(interpreters[0], interpreters[1], config)

    def settings(self) -> dict:
        """What decides its landmarks (for the features' provenance): the models' hashes and
        the config (without the folder's path)."""
        root = self.config.resolved_models_dir()
        config = {k: v for k, v in asdict(self.config).items() if k != "models_dir"}
        return {
            "models_sha256": {n: file_sha256(root / n) for n in (DETECTOR_FILE, LANDMARK_FILE)},
            "config": config,
        }

    def track(
        self, video: str | Path, times: np.ndarray, fps: float = 16.0, seconds: float = 0.0
    ) -> Any:
        """A whole video's landmarks at ``fps`` (``LandmarkTrack``): the frames the capture-clock
        resampling picks (``livefit.vision.preprocess.resample_indices``, the CNN's rule), each
        estimated once, in order, with tracking from a fresh start (``reset``). ``seconds`` > 0:
        only the frames captured in the video's first ``seconds`` (``times[:n]`` resampled)."""
        times = np.asarray(times, dtype=np.float64)
        n_video = len(times)
        if seconds > 0:
            times = times[: first_seconds(times, seconds)]
        picks = resample_indices(times, fps)
        wanted = np.bincount(picks, minlength=len(times))  # how often each source frame is used
        self.reset()
        points: list[np.ndarray] = []
        width = height = 0
        for i, (decoded, _) in enumerate(decoded_frames(video)):
            if i >= len(times):
                if len(times) < n_video:
                    break  # the first ``seconds`` are done
                raise VideoError(f"{video}: more frames than its {len(times)} timestamps")
            if wanted[i]:
                frame = rgb_array(decoded)
                height, width = frame.shape[:2]
                p = self.estimate(frame, float(times[i]))
                points += [p] * int(wanted[i])
        if len(points) != len(picks):
            raise VideoError(f"{video}: {len(points)} of {len(picks)} resampled frames decoded")
        return LandmarkTrack(np.stack(points).astype(np.float32), times[picks], width, height)

    def reset(self) -> None:
        """Forget the tracked ROI (a new video or a cut): the next frame runs the detector."""
        self._track_roi = None
        self._aux_filter = OneEuroFilter()

    def estimate(self, frame_rgb: np.ndarray, time: float | None = None) -> np.ndarray:
        """Landmarks ``[33, 4]`` (x, y, z in pixels, visibility) of the person in ``frame_rgb``
        (uint8 ``[H, W, 3]`` RGB); all zeros when there is nobody. ``time``: the frame's capture
        time in seconds (increasing), used by the tracking-ROI filter; None: the previous time +
        1 / ``default_fps``."""
        return self.estimate_full(frame_rgb, time).points

    def estimate_full(self, frame_rgb: np.ndarray, time: float | None = None) -> PoseResult:
        """``estimate`` with the presence score and the ROI used."""
        if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
            raise PoseEstimatorError(
                f"expected an RGB uint8 frame [H, W, 3], got {frame_rgb.dtype} "
                f"{list(frame_rgb.shape)}"
            )
        self._clock = self._clock + 1.0 / self.config.default_fps if time is None else time
        roi = self._track_roi if self.config.tracking else None
        detected = roi is None
        if roi is None:
            roi = self.detect(frame_rgb)
        self._track_roi = None
        if roi is None:
            self._aux_filter = OneEuroFilter()  # MediaPipe resets its filters on a lost pose
            return PoseResult(np.zeros((NUM_LANDMARKS, 4), np.float32), 0.0, None, True)
        points, aux, presence = self.landmarks(frame_rgb, roi)
        if presence < self.config.presence_threshold:
            self._aux_filter = OneEuroFilter()
            return PoseResult(np.zeros((NUM_LANDMARKS, 4), np.float32), presence, roi, detected)
        if self.config.smooth_tracking_roi:
            # Object scale = the unscaled alignment box's side, 2 |p1 - p0| (pixels).
            scale = 2.0 * float(np.hypot(*(aux[1] - aux[0])))
            if scale > 1e-6:
                aux = self._aux_filter(self._clock, aux, 1.0 / scale)
        self._track_roi = roi_from_points(aux[0], aux[1])
        return PoseResult(points, presence, roi, detected)

    def detect(self, frame_rgb: np.ndarray) -> Roi | None:
        """The detector's best person as a landmark-model ROI, or None."""
        h, w = frame_rgb.shape[:2]
        box = letterbox_roi(w, h)
        img = crop(frame_rgb, box, DETECTOR_SIZE, cv2.BORDER_CONSTANT)
        x = img.astype(np.float32)[None] * (2.0 / 255.0) - 1.0  # [1, 224, 224, 3] in [-1, 1]
        self._detector.set_tensor(self._det_in, x)
        self._detector.invoke()
        raw = self._detector.get_tensor(self._det_raw)[0]  # [2254, 12]
        logits = self._detector.get_tensor(self._det_score)[0, :, 0]  # [2254]
        scores = sigmoid(np.clip(logits, -100.0, 100.0))
        keep = np.flatnonzero(scores >= self.config.detection_threshold)
        if len(keep) == 0:
            return None
        anchors = self._anchors[keep]  # [k, 2]
        r = raw[keep].astype(np.float64) / DETECTOR_SIZE  # offsets in anchor units (size 1)
        centre = r[:, 0:2] + anchors
        half = r[:, 2:4] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)  # [k, 4] normalised
        keypoints = r[:, 4:12].reshape(-1, 4, 2) + anchors[:, None, :]  # [k, 4, 2]
        _, _, kp = weighted_nms(boxes, scores[keep], keypoints.reshape(len(keep), -1))[0]
        kp = crop_to_frame(kp.reshape(4, 2), box)  # letterbox square -> frame pixels
        return roi_from_points(kp[0], kp[1])

    def landmarks(self, frame_rgb: np.ndarray, roi: Roi) -> tuple[np.ndarray, np.ndarray, float]:
        """The landmark model on ``roi``: pose points ``[33, 4]``, auxiliary points ``[2, 2]``
        (hip centre, scale point; frame pixels) and the pose-presence score."""
        img = crop(frame_rgb, roi, LANDMARK_SIZE, cv2.BORDER_REPLICATE)
        x = img.astype(np.float32)[None] * (1.0 / 255.0)  # [1, 256, 256, 3] in [0, 1]
        self._landmarker.set_tensor(self._lm_in, x)
        self._landmarker.invoke()
        raw = self._landmarker.get_tensor(self._lm_raw).reshape(NUM_MODEL_LANDMARKS, 5)
        presence = float(self._landmarker.get_tensor(self._lm_flag).reshape(-1)[0])
        uv = raw[:, :2].astype(np.float64) / LANDMARK_SIZE  # [39, 2] normalised crop coords
        if self.config.refine_with_heatmap:
            heatmap = self._landmarker.get_tensor(self._lm_heatmap)[0]  # [64, 64, 39]
            uv = refine_from_heatmap(uv, heatmap)
        xy = crop_to_frame(uv, roi)  # [39, 2] frame pixels
        points = np.empty((NUM_LANDMARKS, 4), np.float32)
        points[:, :2] = xy[:NUM_LANDMARKS]
        points[:, 2] = raw[:NUM_LANDMARKS, 2] / LANDMARK_SIZE * roi.size
        points[:, 3] = sigmoid(raw[:NUM_LANDMARKS, 3].astype(np.float64))
        return points, xy[NUM_LANDMARKS : NUM_LANDMARKS + 2], presence
