"""The paper's Socratic baseline (Table 4, appendix E.2): a language-only LM coaches from text
descriptions of what the causal CNN sees, prompted every 5 s. A coach with the streaming engine's
interface, like the rule-based ones (``livefit.baselines.coaches``), so ``livefit predict`` and
``livefit benchmark`` drive it as ``--model socratic:SPEC``.

Flow per pushed feature step ``[C, h, w]`` (paper clock: step k at k / 4 s):
activity head (``livefit.vision.activity``) -> fine-grained class probabilities ``[K]`` ->
averaged over each 1 s window -> one activity line (``describe``) -> every 5 s, the paper's E.2
prompt (``socratic_prompt``) with the previous activity, what the coach said so far and the last
5 s of activity -> the LM (``livefit.chat``: an OpenAI-compatible endpoint or a local Hugging
Face causal LM) -> the reply's first sentence, the feedback at that 5 s time.

One activity line per 1 s window, from the window's mean probabilities (the line's time is the
window's last step):
- the most likely exercise (fine classes summed) is ``general`` (rest, drinking, ...):
  "The user is not doing the exercise ({activity})."
- it is another exercise than the prompt's (when the head knows the prompt's exercise):
  "The user is doing {exercise} instead."
- the most likely class of that exercise holds less than ``min_confidence`` of the exercise's
  probability: "The user is doing the exercise." (the paper example's neutral line);
- otherwise, by the class's aspect: ``good form`` -> "The user has good form."; ``slow`` ->
  "The user was slow."; ``fast`` -> "The user was fast." (the example's wording); a side
  (``left arm``, ``right leg``) -> "The user is doing the exercise with the {side}."; any other
  aspect is a mistake -> "The user has a form mistake: {aspect}." (``squats - shallow`` ->
  "The user has a form mistake: shallow.").

Empty fillers ("Previous user activity:" before the second prompt, "This is what you've said so
far" before the first reply) are "None".
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from livefit.baselines.coaches import RuleCoach, RuleSession
from livefit.bundled import bundled_cnn
from livefit.chat import ChatBackend, ChatConfig, ChatError, make_chat, split_target
from livefit.data.labels import split_fine_label
from livefit.data.prompts import SINGLE_EXERCISE
from livefit.io import parse_json
from livefit.provenance import file_sha256
from livefit.stream.events import Event

# Appendix E.2, verbatim (including "based on based on" and the typographic apostrophe in
# "you’ve"); the PDF's line wrapping is undone, and the example's second and third activity lines,
# which the PDF prints on one line, are two lines, as the "format shown in the example" requires.
# The first paragraph is the system text (``livefit.data.prompts.SINGLE_EXERCISE``).
SOCRATIC_INSTRUCTION = (
    "Provide a SHORT ONE SENTENCE RESPONSE to the user based on based on the activity from the "
    "last 5 seconds shown below. Take into account what you said before but DO NOT repeat it "
    "exactly. The response should be in second-person perspective. Ask them to correct any "
    "mistakes you see otherwise provide encouraging feedback.\n"
    "\n"
    "For example:\n"
    "User activity:\n"
    "Timestep: 0.55 – The user is doing the exercise.\n"
    "Timestep: 1.55 – The user is doing the exercise.\n"
    "Timestep: 2.45 – The user was fast.\n"
    "Timestep: 3.45 – The user was fast.\n"
    "Timestep: 4.62 – The user was fast.\n"
    "Timestep: 5.42 – The user has good form.\n"
    "\n"
    "Response: Woah, great speed there!\n"
    "\n"
    "Previous user activity:\n"
    "{previous}\n"
    "\n"
    "This is what you’ve said so far for the previous activity:\n"
    "{said}\n"
    "\n"
    "Latest user activity:\n"
    "{latest}\n"
    "\n"
    "Response:"
)
NONE_TEXT = "None"  # an empty filler
SOCRATIC_EVERY_S = 5.0  # the paper's prompting interval
_EXERCISE = re.compile(r"The user should be doing (.+?)\.?\s*$", re.S)
_SIDE = re.compile(r"^(left|right) (arm|leg)$")
_SENTENCE = re.compile(r"\S.*?(?:[.!?](?=[\s\"'”’)]|$)|$)", re.S)


class SocraticError(ValueError):
    """The LM failed mid-segment (after the client's retries); finished segments are kept."""


def exercise_in(system_prompt: str) -> str | None:
    """``"... The user should be doing squats."`` -> ``"squats"`` (None: no such sentence)."""
    found = _EXERCISE.search(system_prompt)
    return found.group(1).strip() if found else None


def activity_line(t: float, text: str) -> str:
    """One line of the prompt's activity lists (en dash, as the paper)."""
    return f"Timestep: {t:.2f} – {text}"


def socratic_messages(
    system: str, previous: list[str], said: list[str], latest: list[str]
) -> list[dict[str, str]]:
    """The E.2 prompt as chat messages: the system text, then the instruction filled in. Joined
    by a blank line (what a base LM without a chat template reads) they are the whole prompt."""
    user = (
        SOCRATIC_INSTRUCTION.replace("{previous}", "\n".join(previous) or NONE_TEXT)
        .replace("{said}", "\n".join(said) or NONE_TEXT)
        .replace("{latest}", "\n".join(latest) or NONE_TEXT)
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def socratic_prompt(system: str, previous: list[str], said: list[str], latest: list[str]) -> str:
    """The whole E.2 prompt as one text (system paragraph, blank line, instruction)."""
    return "\n\n".join(m["content"] for m in socratic_messages(system, previous, said, latest))


def first_sentence(reply: str) -> str:
    """The reply's first sentence (its first non-empty line, up to the first . ! or ?), without
    an echoed "Response:" and surrounding quotes; "" when the reply is empty."""
    for line in reply.strip().splitlines():
        line = line.strip().removeprefix("Response:").strip().strip("\"'“”")
        if line:
            found = _SENTENCE.match(line)
            return (found.group(0) if found else line).strip()
    return ""


def describe(
    probs: Any, fine_grained: list[str], exercise: str | None, min_confidence: float = 0.5
) -> str:
    """One activity sentence from fine-grained class probabilities ``[K]`` (see the module
    docstring for the mapping); ``exercise``: the one the prompt names, if known."""
    from livefit.vision.activity import exercise_of  # lazy: torch off --help (coach registry)

    totals: dict[str, float] = {}
    for name, p in zip(fine_grained, probs, strict=True):
        totals[exercise_of(name)] = totals.get(exercise_of(name), 0.0) + float(p)
    top = max(totals, key=totals.__getitem__)
    best_p, best = max(
        (float(p), name)
        for name, p in zip(fine_grained, probs, strict=True)
        if exercise_of(name) == top
    )
    activity, variant = split_fine_label(best)
    aspect = best if activity == best else variant  # no variant: the label itself
    if top == "general":
        return f"The user is not doing the exercise ({aspect})."
    if exercise is not None and exercise in totals and top != exercise:
        return f"The user is doing {top} instead."
    if best_p < min_confidence * totals[top]:
        return "The user is doing the exercise."
    if aspect == "good form":
        return "The user has good form."
    if aspect in ("slow", "fast"):
        return f"The user was {aspect}."
    if _SIDE.match(aspect):
        return f"The user is doing the exercise with the {aspect}."
    return f"The user has a form mistake: {aspect}."


@dataclass(frozen=True)
class SocraticConfig(ChatConfig):
    """The Socratic coach: its LM (``ChatConfig``: an OpenAI-compatible endpoint or a local Hugging
    Face causal LM directory; prompt m of a segment samples with ``seed + m``), its CNN's
    activity head, its clock."""

    max_new_tokens: int = 48  # one sentence
    cnn: str | None = None  # CNN folder with the activity head (None: the bundled coach's)
    every_s: float = SOCRATIC_EVERY_S  # prompt interval (paper: 5 s)
    window_s: float = 1.0  # one activity line per window (paper: per second)
    steps_per_second: float = 4.0  # paper clock: step k at k / 4 s when push() gets no time
    min_confidence: float = 0.5  # below: the neutral "The user is doing the exercise."


SETTINGS_FILE = "socratic.json"  # beside a trained Socratic LM: the settings it was trained for
SPEC_OPTIONS = (
    "cnn",
    "every_s",
    "min_confidence",
    "temperature",
    "top_p",
    "top_k",
    "max_new_tokens",
    "seed",
)


def parse_spec(spec: str) -> SocraticConfig:
    """``socratic:http://HOST:PORT/v1[#MODEL][?OPTIONS]`` or ``socratic:PATH[?OPTIONS]`` -> its
    config (the ``socratic:`` prefix is optional here). OPTIONS: ``key=value`` pairs joined by
    ``&``, keys from ``SPEC_OPTIONS`` (e.g. ``?cnn=RUN/vision/cnn&temperature=0``: the CNN whose
    activity head describes the features, greedy decoding). ``ValueError`` says what is wrong."""
    target = spec.removeprefix("socratic:")
    target, _, query = target.partition("?")
    usage = "expected socratic:http://HOST[:PORT][/v1][#MODEL][?OPTIONS] or socratic:PATH[?OPTIONS]"
    if not target:
        raise ValueError(f"{spec}: {usage}")
    options: dict[str, Any] = {}
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        pairs = [] if not query else None  # type: ignore[assignment]
    if pairs is None:
        raise ValueError(f"{spec}: options must be key=value pairs joined by &")
    for key, value in pairs:
        if key not in SPEC_OPTIONS:
            raise ValueError(f"{spec}: unknown option {key!r} (known: {', '.join(SPEC_OPTIONS)})")
        kind = {"cnn": str, "top_k": int, "max_new_tokens": int, "seed": int}.get(key, float)
        try:
            options[key] = kind(value)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise ValueError(f"{spec}: option {key} must be {what}, got {value!r}") from None
    if "cnn" in options and not Path(options["cnn"]).is_dir():
        raise ValueError(f"{spec}: option cnn: {options['cnn']} is not a folder")
    try:
        where = split_target(target)
    except ValueError as err:
        raise ValueError(f"{spec}: {err}; {usage}") from None
    return SocraticConfig(**{**trained_settings(where.get("model_path")), **where, **options})


def trained_settings(model_path: str | None) -> dict[str, Any]:
    """The settings a model folder trained by ``livefit.train.socratic_stage`` was made for
    (its ``socratic.json``: its CNN's activity head, greedy decoding, ...); {} for any other
    model. Spec options override them."""
    saved = Path(model_path) / SETTINGS_FILE if model_path else None
    if saved is None or not saved.is_file():
        return {}
    settings = parse_json(saved.read_bytes(), str(saved), unique_keys=True)  # a config
    known = set(SocraticConfig.__dataclass_fields__) - {"url", "model", "model_path"}
    if not isinstance(settings, dict) or not set(settings) <= known:
        raise ValueError(f"{saved}: expected an object with some of {sorted(known)}")
    return settings


@dataclass
class SocraticSession(RuleSession):
    """One segment: the activity lines so far, the prompts sent, the feedbacks."""

    exercise: str | None = None
    system: str = ""
    activity: list[tuple[float, str]] = field(default_factory=list)  # (window's last t, text)
    prompts: list[str] = field(default_factory=list)  # every prompt sent, in order
    _window: int | None = None  # index of the window being filled
    _sum: Any = None  # [K] summed probabilities of that window
    _count: int = 0
    _last_t: float = 0.0
    _asked: int = 0  # prompts due so far (sent or skipped)

    def push(self, step: Any, t: float | None = None) -> Iterator[Event]:
        """A feature step ``[C, h, w]``; ``t``: its time (default: the paper clock)."""
        coach: SocraticCoach = self.coach  # type: ignore[assignment]
        cfg = coach.socratic
        now = self.steps_pushed / cfg.steps_per_second if t is None else float(t)
        self.steps_pushed += 1
        self.steps_seen += 1
        window = int(now // cfg.window_s + 1e-9)
        if self._window is not None and window != self._window:
            self._close_window()
        probs = coach.probabilities(step)  # [K]
        self._sum = probs if self._sum is None else self._sum + probs
        self._window, self._count, self._last_t = window, self._count + 1, now
        due = int(now // cfg.every_s + 1e-9)  # prompt times reached by now
        while self._asked < due:
            self._asked += 1
            text = self._ask(self._asked * cfg.every_s)
            if text:
                when = self._asked * cfg.every_s
                self.feedbacks.append((when, text))
                yield Event(when, "feedback", text)

    def _close_window(self) -> None:
        coach: SocraticCoach = self.coach  # type: ignore[assignment]
        mean = (self._sum / self._count).tolist()
        text = describe(mean, coach.head.fine_grained, self.exercise, coach.socratic.min_confidence)
        self.activity.append((self._last_t, text))
        self._window, self._sum, self._count = None, None, 0

    def _ask(self, boundary: float) -> str:
        """Prompt at ``boundary`` seconds with the activity of the 5 s before it; "" if none."""
        coach: SocraticCoach = self.coach  # type: ignore[assignment]
        start = boundary - coach.socratic.every_s
        done = [(t, s) for t, s in self.activity if t < boundary]
        previous = [activity_line(t, s) for t, s in done if t < start]
        latest = [activity_line(t, s) for t, s in done if t >= start]
        if not latest:
            return ""
        said = [text for _, text in self.feedbacks]
        messages = socratic_messages(self.system, previous, said, latest)
        self.prompts.append("\n\n".join(m["content"] for m in messages))
        seed = coach.socratic.seed
        try:
            reply = coach.lm.complete(messages, None if seed is None else seed + self._asked)
        except ChatError as err:  # a ValueError: `livefit predict` prints one error line
            raise SocraticError(f"socratic LM: {err} (rerun the same command to resume)") from None
        return first_sentence(reply)


class SocraticCoach(RuleCoach):
    """Engine-like: ``start(system_prompt)`` -> a ``SocraticSession``. ``lm`` and ``head`` may be
    given (tests, sharing one loaded model); otherwise built from the config."""

    name = "socratic"

    def __init__(
        self, config: SocraticConfig, lm: ChatBackend | None = None, head: Any = None
    ) -> None:
        super().__init__()
        from livefit.vision.activity import ActivityHead  # lazy: torch off --help (coach registry)

        self.socratic = config
        self.cnn = Path(config.cnn) if config.cnn else bundled_cnn()
        self.head = head if head is not None else ActivityHead.from_pretrained(self.cnn)
        self.lm = lm if lm is not None else make_chat(config)

    @classmethod
    def from_spec(cls, spec: str) -> SocraticCoach:
        """``socratic:URL[#MODEL]`` or ``socratic:PATH``; ``ValueError`` says what is wrong."""
        try:
            return cls(parse_spec(spec))
        except ChatError as err:
            raise ValueError(f"{spec}: {err}") from None

    def probabilities(self, step: Any) -> Any:
        """One feature step ``[C, h, w]`` -> fine-grained probabilities ``[K]`` (a tensor)."""
        import torch

        feature = torch.as_tensor(step)
        channels = self.head.linear.in_features
        if feature.ndim != 3 or feature.shape[0] != channels:
            raise ValueError(
                f"feature step {list(feature.shape)} does not fit the activity head of "
                f"{self.cnn} (expected [{channels}, h, w])"
            )
        return self.head(feature)

    def start(
        self, system_prompt: str, total_steps: int | None = None, t0: float | None = None
    ) -> SocraticSession:
        exercise = exercise_in(system_prompt)
        # The paper's system text names the exercise; a prompt without one is used as it is.
        system = SINGLE_EXERCISE.format(exercise=exercise) if exercise else system_prompt
        return SocraticSession(self, exercise=exercise, system=system)

    def say(self, session: RuleSession, t: float) -> list[tuple[float, str]]:
        return []  # SocraticSession.push decides

    def settings(self) -> dict[str, Any]:
        from livefit.vision.activity import (  # lazy: torch off --help (coach registry)
            HEAD_FILE,
            LABELS_FILE,
        )

        return {
            "coach": self.name,
            "lm": self.lm.name,
            "cnn_dir": str(self.cnn.resolve()),
            "activity_head_sha256": {
                n: file_sha256(self.cnn / n) for n in (HEAD_FILE, LABELS_FILE)
            },
            "prompt_sha256": _sha256(SINGLE_EXERCISE + SOCRATIC_INSTRUCTION),
            **asdict(self.socratic),
        }


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


__all__ = [
    "SOCRATIC_INSTRUCTION",
    "SocraticCoach",
    "SocraticConfig",
    "SocraticError",
    "SocraticSession",
    "SETTINGS_FILE",
    "SPEC_OPTIONS",
    "activity_line",
    "describe",
    "exercise_in",
    "first_sentence",
    "parse_spec",
    "trained_settings",
    "socratic_messages",
    "socratic_prompt",
]
