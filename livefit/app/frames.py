"""The live protocol's wire format (``livefit.app.session`` speaks the protocol over it): the
protocol version, the WebSocket close codes, binary frame messages (8-byte little-endian float64
capture time in ms, then the JPEG bytes) checked against ``ServerLimits`` before any decoding,
text control messages (``parse_text``), JPEG encoding (the client side: tests, benchmarks) and
decoding (the worker threads), the ``pose`` message (the landmarks the coach saw on a frame) and
``short_repr``, how a client's value is echoed in a reply.

Below the session and the app; imports only ``livefit.app.limits``, ``livefit.io`` and the
landmark format.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from livefit.app.limits import ServerLimits
from livefit.data.landmarks import SKELETON
from livefit.io import JSONInputError, parse_json

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<d")  # capture time in ms, little-endian float64, before the JPEG bytes

# WebSocket close codes (RFC 6455 section 7.4.1)
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_TRY_LATER = 1013


class FrameError(ValueError):
    """A frame message that cannot be used; ``fatal`` ones end the session with ``code``."""

    def __init__(self, message: str, fatal: bool = False, code: int = CLOSE_POLICY) -> None:
        super().__init__(message)
        self.fatal = fatal
        self.code = code


def jpeg_size(data: bytes | memoryview) -> tuple[int, int]:
    """``(width, height)`` from a JPEG's start-of-frame header, without decoding the image (so a
    small file that would decode to a huge image is refused first). Raises ``FrameError``."""
    if len(data) < 4 or data[0] != 0xFF or data[1] != 0xD8:
        head = bytes(data[:4]).hex(" ")
        raise FrameError(f"frame is not a JPEG image (starts with bytes {head or 'nothing'})")
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        length = (data[i + 2] << 8) | data[i + 3]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn
            if i + 9 > len(data):
                break
            height = (data[i + 5] << 8) | data[i + 6]
            width = (data[i + 7] << 8) | data[i + 8]
            return width, height
        if marker == 0xDA:  # start of scan before any frame header
            break
        i += 2 + length
    raise FrameError("frame is a truncated or malformed JPEG (no frame header found)")


def parse_frame(message: bytes, limits: ServerLimits) -> tuple[float, memoryview]:
    """A binary frame message -> ``(capture time ms, JPEG bytes)``, checked against the limits
    (size and pixels before any decoding)."""
    if len(message) > limits.max_frame_bytes:
        raise FrameError(
            f"frame message of {len(message):,} bytes is larger than the limit "
            f"({limits.max_frame_bytes:,} bytes): send smaller JPEGs",
            fatal=True,
            code=CLOSE_TOO_BIG,
        )
    if len(message) < HEADER.size + 4:
        raise FrameError(
            f"frame message of {len(message)} bytes is too short: expected an 8-byte capture "
            "time (little-endian float64, ms) followed by a JPEG"
        )
    (capture_ms,) = HEADER.unpack_from(message)
    if not math.isfinite(capture_ms):
        raise FrameError(f"capture time must be a finite number of milliseconds, got {capture_ms}")
    jpeg = memoryview(message)[HEADER.size :]
    width, height = jpeg_size(jpeg)
    if width * height > limits.max_frame_pixels:
        raise FrameError(
            f"frame of {width}x{height} pixels is larger than the limit "
            f"({limits.max_frame_pixels:,} pixels): downscale before sending",
            fatal=True,
        )
    return capture_ms, jpeg


def parse_text(text: str, limits: ServerLimits) -> dict[str, Any] | str:
    """A text control message -> its JSON object (with a ``type``), or why it is not one (a
    non-fatal error: the session replies and goes on); a fatal ``FrameError`` when it is larger
    than the limit (checked before it is parsed)."""
    size = len(text.encode())
    if size > limits.max_text_bytes:
        raise FrameError(
            f"text message of {size:,} bytes is larger than the limit "
            f"({limits.max_text_bytes:,} bytes)",
            fatal=True,
            code=CLOSE_TOO_BIG,
        )
    try:
        message = parse_json(text, "text message")  # deep nesting: an error, not a crash
    except JSONInputError as err:
        return f"text messages must be JSON objects with a 'type' ({err})"
    if not isinstance(message, dict) or "type" not in message:
        return f"text messages must be JSON objects with a 'type', got {short_repr(text)}"
    return message


def pose_message(points: np.ndarray, width: int, height: int, capture_ms: float) -> dict[str, Any]:
    """The ``pose`` message of a frame: its landmarks ``[33, 4]`` (pixels of a ``width`` x
    ``height`` frame) as ``[x, y, visibility]`` in fractions of the frame (3 decimals), so the page
    draws them on the video at any size."""
    xyv = np.stack([points[:, 0] / width, points[:, 1] / height, points[:, 3]], axis=1)
    return {"type": "pose", "capture_ms": capture_ms, "points": np.round(xyv, 3).tolist()}


SKELETON_EDGES: list[list[int]] = [list(bone) for bone in SKELETON]
"""The bones to draw between ``pose`` points (the ``ready`` message's ``skeleton``)."""


def encode_jpeg(rgb: np.ndarray, quality: int = 80) -> bytes:
    """Client side: RGB uint8 ``[H, W, 3]`` -> JPEG bytes (what the page's ``toBlob`` makes)."""
    import cv2

    ok, data = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode a frame of shape {rgb.shape} as JPEG")
    return data.tobytes()


def frame_message(jpeg: bytes, capture_ms: float) -> bytes:
    """Client side: one binary frame message (capture time header + JPEG)."""
    return HEADER.pack(capture_ms) + jpeg


def decode_jpeg(jpeg: bytes | memoryview) -> np.ndarray:
    """JPEG bytes -> BGR uint8 ``[H, W, 3]`` (OpenCV); ``FrameError`` when it does not decode."""
    import cv2

    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameError("frame is a corrupt JPEG (it does not decode)")
    return image


def short_repr(value: Any, limit: int = 80) -> str:
    """``value`` echoed in a reply: a scalar's repr cut to ``limit`` characters, else its kind
    (a client's list or object may be deep enough to break ``repr``, and is not worth echoing)."""
    if value is None or isinstance(value, str | int | float | bool):
        text = repr(value)
        return text if len(text) <= limit else text[:limit] + "..."
    return {"list": "a list", "dict": "an object"}.get(type(value).__name__, "a value")
