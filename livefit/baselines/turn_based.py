"""The paper's turn-based vision-language baselines (Table 3, the dagger rows of Table 4, appendix
E.3): an external video/image-text model is prompted every 5 s with video frames and what it said
so far, and its one-sentence answer is the feedback at that time. A coach with the streaming
engine's interface, like the rule-based ones (``livefit.baselines.coaches``), so ``livefit
predict`` and ``livefit benchmark`` drive it as ``--model turn:http://HOST:PORT/v1[#MODEL]`` (an
endpoint) or ``--model turn:PATH`` (a local Hugging Face image-text model folder).

Flow per segment (``wants_segment``: ``livefit predict`` passes the segment to ``start``): the
segment's frames, ``start < t <= end`` on the shifted clock of its video's ``_timestamps.npy``
(times from the segment start) -> pushed feature steps only drive the clock (paper clock: step k
at k / 4 s; the features are not read) -> at every 5 s mark ``b`` a step reaches, frames from the
window ``(b - 5, b]`` -> downscaled (long side at most 336 px; JPEG data URLs for an endpoint, RGB
arrays for a local model) -> one user message: the image parts,
then the E.3 prompt (exercise from the segment prompt, what the coach said so far) -> the reply's
first sentence, the feedback at ``b``.

Frames per 5 s window (``frames_per_window``, default 8, as Video-LLaVA, Video-LLaMA and
LLaVA-NeXT-Video; 20 for Video-ChatGPT and LLaMA-VID; 1 for InstructBLIP's latest frame): a
window of ``n`` frames is cut into ``k`` equal runs and the middle frame of each is taken (frame
``floor((j + 0.5) * n / k)``, j = 0..k-1; all ``n`` when ``n <= k``; ``k = 1`` is the window's
latest frame). ``accumulate`` (default True, as the paper's Video-ChatGPT, LLaVA-NeXT-Video and
LLaMA-VID runs): the prompt at ``b`` carries the sampled frames of every window so far, oldest
first (at 10 s, the first window's frames are kept); False: the latest window's only (the
paper's Video-LLaVA and Video-LLaMA runs). A window with no frame (the video ended) sends no
prompt and says nothing.

The prompt is E.3's text with its slots filled: the exercise, ``X`` (the seconds so far, ``b``,
written as ``5``, ``10``, ``12.5``) and what was said so far, one feedback a line (``None`` when
empty); PDF line wrapping undone. It is one text part after the images, in a single user message
(video LLMs take the prompt as one text; no system message).

Backends (the same frames, prompt and seeds; ``turn_messages`` builds the one message for both):

- ``turn:URL``: any OpenAI-compatible multimodal ``/v1/chat/completions`` endpoint (vLLM,
  llama.cpp's server, Ollama) through ``livefit.chat.HTTPChat``, the judge's client; images go as
  ``{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,..."}}`` parts;
- ``turn:PATH``: a local transformers image-text-to-text folder with its processor (LLaVA,
  LLaVA-NeXT, Qwen2-VL style; ``AutoProcessor`` + ``AutoModelForImageTextToText``, never a
  download) through ``ImageTextChat``, a ``livefit.chat.TransformersChat`` (its sampler: greedy at
  temperature 0, otherwise seeded sampling with the coach's settings): images go as
  ``{"type": "image", "image": RGB uint8 [H, W, 3]}`` parts, the text through the processor's chat
  template (without one: one image token per image, a newline, the prompt), the images through
  its image processor. Frames go as separate images (a video model's video input is not used).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from livefit.baselines.coaches import RuleCoach, RuleSession
from livefit.baselines.socratic import exercise_in, first_sentence
from livefit.chat import (
    ChatBackend,
    ChatConfig,
    ChatError,
    TransformersChat,
    make_chat,
    split_target,
)
from livefit.data.prompts import SINGLE_EXERCISE
from livefit.model.hf_folder import SAFE_LOAD, open_folder
from livefit.stream.events import Event
from livefit.vision.preprocess import VideoError, decode_frames, load_timestamps

# Appendix E.3, verbatim (the typographic apostrophe in "you’ve" included); the PDF's line
# wrapping is undone. The first paragraph is ``livefit.data.prompts.SINGLE_EXERCISE``.
TURN_INSTRUCTION = (
    "This is what you’ve said so far over the last {seconds} seconds:\n"
    "{said}\n"
    "\n"
    "Provide a SHORT ONE SENTENCE RESPONSE to the user based on what you see in the video. Take "
    "into account what you said before but DO NOT repeat it exactly. The response should be in "
    "second-person perspective. Ask them to correct any mistakes you see otherwise provide "
    "encouraging feedback."
)
NONE_TEXT = "None"  # nothing said yet
TURN_EVERY_S = 5.0  # the paper's prompting interval (the mean silence in the data)


class TurnError(ValueError):
    """The model failed mid-segment (after the client's retries), or the segment's video could
    not be read; finished segments are kept."""


def turn_prompt(system: str, seconds: float, said: list[str]) -> str:
    """The whole E.3 prompt: the system paragraph, a blank line, the instruction filled in."""
    text = TURN_INSTRUCTION.replace("{seconds}", f"{seconds:g}")
    return system + "\n\n" + text.replace("{said}", "\n".join(said) or NONE_TEXT)


def sample_window(n: int, k: int) -> list[int]:
    """``k`` uniformly spaced positions among ``n`` frames (the middle of ``k`` equal runs;
    ``k = 1``: the latest frame; all of them when ``n <= k``)."""
    if n <= k:
        return list(range(n))
    if k == 1:
        return [n - 1]
    return [int((j + 0.5) * n / k) for j in range(k)]


def window_frames(times: np.ndarray, boundary: float, every_s: float, k: int) -> list[int]:
    """Indices (into ``times``, seconds from the segment start) of the ``k`` frames sampled from
    the window ``(boundary - every_s, boundary]``."""
    inside = np.flatnonzero((times > boundary - every_s + 1e-9) & (times <= boundary + 1e-9))
    return [int(inside[j]) for j in sample_window(len(inside), k)]


def downscale(rgb: np.ndarray, max_side: int = 336) -> np.ndarray:
    """An RGB uint8 frame ``[H, W, 3]`` downscaled (area interpolation) so that its long side is
    at most ``max_side`` (never upscaled)."""
    import cv2

    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


def jpeg_data_url(rgb: np.ndarray, max_side: int = 336, quality: int = 90) -> str:
    """An RGB uint8 frame ``[H, W, 3]`` -> ``data:image/jpeg;base64,...``, downscaled (area
    interpolation) so that its long side is at most ``max_side``."""
    import cv2

    rgb = downscale(rgb, max_side)
    ok, buf = cv2.imencode(
        ".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise TurnError(f"cannot JPEG-encode a frame of shape {list(rgb.shape)}")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def turn_messages(prompt: str, images: list[Any]) -> list[dict[str, Any]]:
    """One user message: the image parts, then the prompt as one text part. A data URL (str) is
    an ``image_url`` part (endpoints); an RGB array an ``image`` part (local models)."""
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": im}}
        if isinstance(im, str)
        else {"type": "image", "image": im}
        for im in images
    ]
    parts.append({"type": "text", "text": prompt})
    return [{"role": "user", "content": parts}]


class ImageTextChat(TransformersChat):
    """A local transformers image-text-to-text folder with its processor (``from_pretrained``,
    no download); ``complete(turn_messages(prompt, arrays), seed)``. Sampling, seeding and
    decoding are ``TransformersChat``'s; only loading and encoding differ."""

    role = "turn-based model"

    def __init__(self, config: ChatConfig):
        import torch
        from transformers import AutoProcessor

        try:
            from transformers import AutoModelForImageTextToText as AutoModel
        except ImportError:  # transformers < 4.46
            from transformers import AutoModelForVision2Seq as AutoModel

        path = config.model_path
        if not path or not Path(path).is_dir():
            raise self.error(f"{path}: {self.role} directory is missing")
        try:
            self.processor = open_folder(
                path, "processor", lambda: AutoProcessor.from_pretrained(path, **SAFE_LOAD)
            )
            placement = {"device_map": "auto"} if torch.cuda.is_available() else {}
            self.model = open_folder(
                path,
                "model",
                lambda: AutoModel.from_pretrained(path, dtype="auto", **placement, **SAFE_LOAD),
            )
        except (OSError, ValueError, KeyError) as err:
            raise self.error(f"{path}: cannot load the {self.role} ({err})") from None
        self.tokenizer = getattr(self.processor, "tokenizer", None)
        if self.tokenizer is None or not hasattr(self.processor, "image_processor"):
            raise self.error(f"{path}: not an image-text processor (no tokenizer or images)")
        self.device = self.model.device
        self.model.eval()
        self.eot = self.tokenizer.get_vocab().get("<|eot_id|>")
        self.config = config
        self.name = f"transformers-image-text:{path}"
        self.last_inputs: dict[str, tuple[int, ...]] = {}  # shapes of the last prompt's inputs

    def encode(self, messages: list[dict[str, Any]]) -> Any:
        """The prompt as model inputs: the text through the processor's chat template (without
        one: an image token per image, a newline, the texts), the images through its image
        processor."""
        images = [p["image"] for m in messages for p in m["content"] if p["type"] == "image"]
        if getattr(self.processor, "chat_template", None):
            bare = [
                {
                    **m,
                    "content": [
                        {"type": "image"} if p["type"] == "image" else p for p in m["content"]
                    ],
                }
                for m in messages
            ]
            text = self.processor.apply_chat_template(
                bare, add_generation_prompt=True, tokenize=False
            )
        else:
            token = getattr(self.processor, "image_token", None) or "<image>"
            texts = [p["text"] for m in messages for p in m["content"] if p["type"] == "text"]
            text = token * len(images) + "\n" + "\n\n".join(texts)
        inputs = self.processor(text=text, images=images or None, return_tensors="pt")
        dtype = self.model.dtype
        for key, value in inputs.items():
            if key.startswith("pixel_values") and value.is_floating_point():
                inputs[key] = value.to(dtype)
        self.last_inputs = {k: tuple(v.shape) for k, v in inputs.items() if hasattr(v, "shape")}
        return inputs


@dataclass(frozen=True)
class TurnConfig(ChatConfig):
    """The turn-based coach: its LM (``ChatConfig``: an OpenAI-compatible multimodal endpoint or
    a local transformers image-text-to-text folder; sampling as the Socratic baseline, prompt m
    of a segment with ``seed + m``), its frames, its clock."""

    max_new_tokens: int = 48  # one sentence
    every_s: float = TURN_EVERY_S  # prompt interval (paper: 5 s)
    frames_per_window: int = 8  # frames sampled per 5 s window (paper: 1, 8 or 20 by model)
    accumulate: bool = True  # keep earlier windows' frames in later prompts (see the docstring)
    max_side: int = 336  # image long side, pixels (frames are downscaled, never upscaled)
    jpeg_quality: int = 90
    steps_per_second: float = 4.0  # paper clock: step k at k / 4 s when push() gets no time


def parse_spec(spec: str) -> TurnConfig:
    """``turn:http://HOST:PORT/v1[#MODEL]`` or ``turn:PATH`` (a local image-text model folder)
    -> its config (the ``turn:`` prefix is optional here). ``ValueError`` says what is wrong."""
    try:
        return TurnConfig(**split_target(spec.removeprefix("turn:")))
    except ValueError as err:
        raise ValueError(
            f"{spec}: {err}; expected turn:http://HOST[:PORT][/v1][#MODEL] (an OpenAI-compatible "
            "multimodal endpoint) or turn:PATH (an existing local Hugging Face image-text model "
            "folder)"
        ) from None


@dataclass
class TurnSession(RuleSession):
    """One segment: its frame times, the frames sampled so far, the prompts sent, the feedbacks."""

    segment: Any = None
    system: str = ""
    times: Any = None  # [F] seconds from the segment start of the segment's video frames
    first_frame: int = 0  # index in the video of the segment's first frame
    images: dict[int, Any] = field(default_factory=dict)  # segment frame index -> image
    sent: list[list[int]] = field(default_factory=list)  # frames of each prompt sent, in order
    prompts: list[str] = field(default_factory=list)  # every prompt text sent, in order
    _asked: int = 0  # prompt times reached so far (sent or skipped)

    def push(self, step: Any, t: float | None = None) -> Iterator[Event]:
        """A feature step (not read: it only moves the clock); ``t``: its time (default: the
        paper clock)."""
        cfg: TurnConfig = self.coach.turn  # type: ignore[attr-defined]
        now = self.steps_pushed / cfg.steps_per_second if t is None else float(t)
        self.steps_pushed += 1
        self.steps_seen += 1
        due = int(now // cfg.every_s + 1e-9)  # prompt times reached by now
        while self._asked < due:
            self._asked += 1
            when = self._asked * cfg.every_s
            text = self._ask(when)
            if text:
                self.feedbacks.append((when, text))
                yield Event(when, "feedback", text)

    def frames_at(self, boundary: float) -> list[int]:
        """The segment frames the prompt at ``boundary`` carries (oldest first)."""
        cfg: TurnConfig = self.coach.turn  # type: ignore[attr-defined]
        k = cfg.frames_per_window
        latest = window_frames(self.times, boundary, cfg.every_s, k)
        if not cfg.accumulate or not latest:
            return latest
        turns = round(boundary / cfg.every_s)
        earlier = [
            window_frames(self.times, m * cfg.every_s, cfg.every_s, k) for m in range(1, turns)
        ]
        return [i for frames in earlier for i in frames] + latest

    def _ask(self, boundary: float) -> str:
        """Prompt at ``boundary`` seconds; "" when its window has no frame."""
        coach: TurnBasedCoach = self.coach  # type: ignore[assignment]
        frames = self.frames_at(boundary)
        if not frames:
            return ""
        self._load(boundary)
        said = [text for _, text in self.feedbacks]
        prompt = turn_prompt(self.system, boundary, said)
        self.prompts.append(prompt)
        self.sent.append(frames)
        seed = coach.turn.seed
        messages = turn_messages(prompt, [self.images[i] for i in frames])
        try:
            reply = coach.lm.complete(messages, None if seed is None else seed + self._asked)
        except ChatError as err:  # a ValueError: `livefit predict` prints one error line
            raise TurnError(f"turn-based model: {err} (rerun the same command to resume)") from None
        return first_sentence(reply)

    def _load(self, boundary: float) -> None:
        """Fetch (once per segment) the frames every prompt up to the segment's end needs."""
        if self.images:
            return
        coach: TurnBasedCoach = self.coach  # type: ignore[assignment]
        cfg = coach.turn
        last = max(float(self.times[-1]), boundary)
        wanted: set[int] = set()
        for m in range(1, int(last // cfg.every_s + 1e-9) + 1):
            wanted.update(
                window_frames(self.times, m * cfg.every_s, cfg.every_s, cfg.frames_per_window)
            )
        found = coach.video_frames(self.segment, sorted(self.first_frame + i for i in wanted))
        self.images = {i - self.first_frame: url for i, url in found.items()}


class TurnBasedCoach(RuleCoach):
    """Engine-like: ``start(system_prompt, segment=...)`` -> a ``TurnSession``. ``lm`` may be
    given (tests); otherwise built from the config."""

    name = "turn"
    wants_segment = True  # livefit predict passes ``segment=`` to ``start``

    def __init__(self, config: TurnConfig, lm: ChatBackend | None = None) -> None:
        super().__init__()
        if config.frames_per_window < 1:
            raise ValueError(f"frames_per_window must be >= 1, got {config.frames_per_window}")
        if not config.every_s > 0:
            raise ValueError(f"every_s must be positive, got {config.every_s}")
        self.turn = config
        if lm is None and config.model_path and not config.url:
            lm = ImageTextChat(config)
        self.lm = lm if lm is not None else make_chat(config)
        self._decoder: dict[str, Any] | None = None  # the open video: see video_frames

    @classmethod
    def from_spec(cls, spec: str) -> TurnBasedCoach:
        """``turn:URL[#MODEL]`` or ``turn:PATH``; ``ValueError`` says what is wrong."""
        try:
            return cls(parse_spec(spec))
        except ChatError as err:
            raise ValueError(f"{spec}: {err}") from None

    def start(
        self,
        system_prompt: str,
        total_steps: int | None = None,
        t0: float | None = None,
        segment: Any = None,
    ) -> TurnSession:
        if segment is None:
            raise TurnError("the turn-based coach needs the segment it coaches (start(segment=))")
        try:
            stamps = load_timestamps(segment.video_timestamps)  # [F] seconds, shifted clock
        except VideoError as err:
            raise TurnError(f"turn-based model: {err}") from None
        inside = np.flatnonzero((stamps > segment.start) & (stamps <= segment.end))
        first = int(inside[0]) if inside.size else 0
        exercise = exercise_in(system_prompt)
        # The paper's system text names the exercise; a prompt without one is used as it is.
        system = SINGLE_EXERCISE.format(exercise=exercise) if exercise else system_prompt
        return TurnSession(
            self,
            segment=segment,
            system=system,
            times=stamps[inside] - segment.start,
            first_frame=first,
        )

    def image(self, rgb: np.ndarray) -> Any:
        """One decoded frame as the backend takes it: a JPEG data URL for an endpoint, a
        downscaled RGB array for a local model (its processor resizes it)."""
        cfg = self.turn
        if isinstance(self.lm, ImageTextChat):
            return downscale(rgb, cfg.max_side)
        return jpeg_data_url(rgb, cfg.max_side, cfg.jpeg_quality)

    def video_frames(self, segment: Any, wanted: list[int]) -> dict[int, Any]:
        """Frames ``wanted`` (sorted indices into the segment's video) as ``image`` makes them
        (JPEG data URLs for an endpoint). One
        decoder per video is kept between segments (they come in file order), so a workout's
        video is decoded about once, not once per segment."""
        video = segment.video
        state = self._decoder
        reusable = (
            state is not None
            and state["video"] == video
            and all(i in state["kept"] or i >= state["next"] for i in wanted)
        )
        if not reusable:  # another video, or a frame already passed and not kept: start over
            state = {"video": video, "frames": decode_frames(video), "next": 0, "kept": {}}
            self._decoder = state
        todo = set(wanted)
        kept: dict[int, Any] = state["kept"]
        try:
            while state["next"] <= wanted[-1]:
                rgb, _ = next(state["frames"])
                if state["next"] in todo:
                    kept[state["next"]] = self.image(rgb)
                state["next"] += 1
        except StopIteration:
            self._decoder = None
            raise TurnError(
                f"{video}: has fewer frames ({state['next']}) than {segment.video_timestamps} "
                f"lists (frame {wanted[-1]} is needed)"
            ) from None
        except VideoError as err:
            self._decoder = None
            raise TurnError(f"turn-based model: {err}") from None
        out = {i: kept[i] for i in wanted}
        # Keep only this segment's frames: the next segment may overlap this one's end.
        state["kept"] = out
        return out

    def say(self, session: RuleSession, t: float) -> list[tuple[float, str]]:
        return []  # TurnSession.push decides

    def settings(self) -> dict[str, Any]:
        prompt = SINGLE_EXERCISE + TURN_INSTRUCTION
        return {
            "coach": self.name,
            "lm": self.lm.name,
            "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(),
            **asdict(self.turn),
        }


__all__ = [
    "TURN_INSTRUCTION",
    "ImageTextChat",
    "TurnBasedCoach",
    "TurnConfig",
    "TurnError",
    "TurnSession",
    "downscale",
    "jpeg_data_url",
    "parse_spec",
    "sample_window",
    "turn_messages",
    "turn_prompt",
    "window_frames",
]
