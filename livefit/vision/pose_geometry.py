"""The pose estimator's geometry and post-processing, pure numpy and OpenCV (tested without the
models): MediaPipe's SSD anchors, the rotated square ``Roi`` and its crops (MediaPipe's
ImageToTensor convention: crop point (u, v) in [0, 1] is ``centre + R(theta) @ ((u - 0.5) *
size, (v - 0.5) * size)`` in the frame), weighted NMS, the heatmap refinement and the one-euro
filter that steadies the tracking ROI. ``livefit.vision.pose_estimator`` runs the two models
between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
NUM_MODEL_LANDMARKS = 39  # 33 pose + 2 auxiliary (hip centre, scale point) + 4 unused
ROI_SCALE = 1.25  # RectTransformationCalculator scale in PoseDetectionToRoi / PoseLandmarksToRoi
NMS_IOU = 0.3
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Roi:
    """A rotated square region of the frame, in pixels."""

    cx: float
    cy: float
    size: float  # side length
    rotation: float  # radians, clockwise on screen (y down); 0 = upright


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
    cols, rows = (xy[:, 0] * w).astype(np.int64), (xy[:, 1] * h).astype(np.int64)  # toward 0
    inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    whole = inside & (cols >= half) & (cols < w - half) & (rows >= half) & (rows < h - half)
    # Windows wholly on the heatmap (nearly all), all at once, summed in the loop's order.
    on = np.flatnonzero(whole)
    k = np.arange(kernel) - half
    r, c = rows[on, None] + k, cols[on, None] + k  # [m, kernel]
    conf = sigmoid(heatmap[r[:, :, None], c[:, None, :], on[:, None, None]])  # [m, k, k]
    total = conf.sum(axis=(1, 2))
    good = (conf.max(axis=(1, 2)) >= min_confidence) & (total > 0)
    x = (np.broadcast_to(c[:, None, :], conf.shape) * conf).sum(axis=(1, 2))
    y = (np.broadcast_to(r[:, :, None], conf.shape) * conf).sum(axis=(1, 2))
    out[on[good], 0] = x[good] / total[good] / w
    out[on[good], 1] = y[good] / total[good] / h
    # Windows cut by the heatmap's edge, one by one.
    for i in np.flatnonzero(inside & ~whole):
        col, row = cols[i], rows[i]
        r0, r1 = max(0, row - half), min(h, row + half + 1)
        c0, c1 = max(0, col - half), min(w, col + half + 1)
        conf_i = sigmoid(heatmap[r0:r1, c0:c1, i].astype(np.float64))
        total_i = conf_i.sum()
        if conf_i.max() >= min_confidence and total_i > 0:
            grid_r, grid_c = np.mgrid[r0:r1, c0:c1]
            out[i, 0] = (grid_c * conf_i).sum() / total_i / w
            out[i, 1] = (grid_r * conf_i).sum() / total_i / h
    return out


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
