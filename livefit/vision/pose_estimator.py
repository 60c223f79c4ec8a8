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

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livefit.data.landmarks import NUM_LANDMARKS, LandmarkTrack
from livefit.provenance import file_sha256
from livefit.vision.pose_geometry import (
    DETECTOR_SIZE,
    LANDMARK_SIZE,
    NUM_MODEL_LANDMARKS,
    OneEuroFilter,
    Roi,
    crop,
    crop_to_frame,
    letterbox_roi,
    refine_from_heatmap,
    roi_from_points,
    sigmoid,
    ssd_anchors,
    weighted_nms,
)
from livefit.vision.preprocess import (
    VideoError,
    decoded_frames,
    first_seconds,
    resample_indices,
    rgb_array,
)

DETECTOR_FILE = "pose_detection.tflite"
LANDMARK_FILES = {"full": "pose_landmark_full.tflite", "lite": "pose_landmark_lite.tflite"}
# Where scripts/fetch_pose_models.sh puts them: the checkout's .cache, whatever the working dir.
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / ".cache" / "pose_models"
FETCH_COMMAND = "bash scripts/fetch_pose_models.sh"
FETCH_LITE_COMMAND = "bash scripts/fetch_pose_models.sh --lite"
INSTALL_COMMAND = "pip install ai-edge-litert"


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
    landmark_model: str = "full"
    """MediaPipe Pose's landmark model: ``"full"`` (``model_complexity=1``, MediaPipe's default)
    or ``"lite"`` (``model_complexity=0``: about a third less CPU a frame, less accurate on small
    people; ``benchmarks/pose_landmark_models.py``; fetched with ``--lite``)."""
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

    def __post_init__(self) -> None:
        if self.landmark_model not in LANDMARK_FILES:
            raise PoseEstimatorError(
                f"landmark_model must be one of {', '.join(LANDMARK_FILES)}, "
                f"not {self.landmark_model!r}"
            )

    def files(self) -> tuple[str, str]:
        """The detector's and the landmark model's file names."""
        return DETECTOR_FILE, LANDMARK_FILES[self.landmark_model]

    def resolved_models_dir(self) -> Path:
        if self.models_dir is not None:
            return Path(self.models_dir)
        return Path(os.environ.get("LIVEFIT_POSE_MODELS", DEFAULT_MODELS_DIR))


@dataclass(frozen=True)
class PoseResult:
    """One frame's estimate, with what produced it (for tracking diagnostics and timing)."""

    points: np.ndarray  # [33, 4] float32: x, y, z (pixels), visibility; zeros when no pose
    presence: float  # pose-presence score of the landmark model (0 when it did not run)
    roi: Roi | None  # the ROI the landmark model ran on (None: detector found nobody)
    detected: bool  # True: the ROI came from the detector; False: from the previous landmarks


# ---------------------------------------------------------------------------------------------
# The estimator
# ---------------------------------------------------------------------------------------------


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
        for name in config.files():  # every file there before any is loaded
            if not (root / name).is_file():
                fetch = FETCH_LITE_COMMAND if name == LANDMARK_FILES["lite"] else FETCH_COMMAND
                raise PoseEstimatorError(f"{root / name} is missing; run `{fetch}`")
        interpreters = []
        for name in config.files():
            path = root / name
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
            "models_sha256": {n: file_sha256(root / n) for n in self.config.files()},
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

    def estimate(
        self, frame_rgb: np.ndarray, time: float | None = None, bgr: bool = False
    ) -> np.ndarray:
        """Landmarks ``[33, 4]`` (x, y, z in pixels, visibility) of the person in ``frame_rgb``
        (uint8 ``[H, W, 3]`` RGB); all zeros when there is nobody. ``time``: the frame's capture
        time in seconds (increasing), used by the tracking-ROI filter; None: the previous time +
        1 / ``default_fps``. ``bgr``: the frame is BGR (OpenCV's); only the models' small crops
        are turned to RGB, not the whole frame (the same pixels, cheaper)."""
        return self.estimate_full(frame_rgb, time, bgr).points

    def estimate_full(
        self, frame_rgb: np.ndarray, time: float | None = None, bgr: bool = False
    ) -> PoseResult:
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
            roi = self.detect(frame_rgb, bgr)
        self._track_roi = None
        if roi is None:
            self._aux_filter = OneEuroFilter()  # MediaPipe resets its filters on a lost pose
            return PoseResult(np.zeros((NUM_LANDMARKS, 4), np.float32), 0.0, None, True)
        points, aux, presence = self.landmarks(frame_rgb, roi, bgr)
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

    def detect(self, frame_rgb: np.ndarray, bgr: bool = False) -> Roi | None:
        """The detector's best person as a landmark-model ROI, or None."""
        h, w = frame_rgb.shape[:2]
        box = letterbox_roi(w, h)
        img = crop(frame_rgb, box, DETECTOR_SIZE, cv2.BORDER_CONSTANT)
        img = img[..., ::-1] if bgr else img
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

    def landmarks(
        self, frame_rgb: np.ndarray, roi: Roi, bgr: bool = False
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """The landmark model on ``roi``: pose points ``[33, 4]``, auxiliary points ``[2, 2]``
        (hip centre, scale point; frame pixels) and the pose-presence score."""
        img = crop(frame_rgb, roi, LANDMARK_SIZE, cv2.BORDER_REPLICATE)
        img = img[..., ::-1] if bgr else img
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
