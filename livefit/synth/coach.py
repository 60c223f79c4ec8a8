"""The rule-based QEVD-SIM coach: what it says, in which words, and how long it takes to say.

Sits between the scenario builders (``workout`` simulates the user and calls the coach's rules
step by step; ``clips`` asks for end-of-clip feedback) and the QEVD writer (lines become the dense
per-frame ``feedbacks`` list). The structure follows the paper's coaching data: a transition
naming each exercise ("First up are squats!", "Moving on to high knees!"), an acknowledgement
when the user starts or a reminder when they do not, a correction as soon as a mistake is
visible, an acknowledgement once it is fixed, rep counting while the form is good, encouragement
about every 5 s for exercises that are not counted, a summary, and a final session-end
transition. Every kind of line has several paraphrases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

WORDS_PER_S = (2.5, 3.0)  # speaking rate range
LINE_PAD_S = 0.35  # breath after each line

TRANSITION_FIRST = "First up are {exercise}!"
TRANSITION_NEXT = "Moving on to {exercise}!"
SESSION_END = (
    "That's the end of the workout, great job!",
    "And that's a wrap, well done today!",
    "That's it for today, awesome work!",
)
START_ACK = (
    "Nice, you got started right away!",
    "Great start, keep that going!",
    "Good, that's the way to start!",
    "There you go, looking good so far!",
)
START_AFTER_REMINDER = (
    "There you go, now you're moving!",
    "That's it, nice to see you going!",
    "Good, let's keep that going now!",
)
REMINDER = (
    "Come on, let's get started!",
    "Let's go, time to start moving!",
    "Don't wait, jump right in now!",
)
FIXED_ACK = (
    "That's much better, keep it up now!",
    "Yes, that's it, that looks much better!",
    "Nice correction, that looks really great!",
    "Perfect, that's the right form, well done!",
)
KEEP_GOING = (
    "Don't stop now, keep going!",
    "Keep moving, you can do this!",
    "No breaks yet, keep it going!",
)
SPEED_UP = (
    "Try to pick up the pace a bit!",
    "A little faster now, you got this!",
    "Speed it up a little for me!",
)
FAST_PRAISE = (
    "Great pace, keep it up just like that!",
    "Wow, you are moving really fast, nice!",
    "Love that speed, keep it going strong!",
)
COUNT = (
    "That's {n}, keep it up, looking strong!",
    "That makes {n}, nice work, keep going!",
    "Good form, that's {n} now, keep going!",
    "Nice, {n} done, keep that rhythm going!",
    "Rep {n} of {exercise}, looking good!",
)
ENCOURAGE = (
    "Hold it there, you're doing great!",
    "Keep breathing, nice and steady!",
    "Feel that stretch, nice and easy!",
    "Relax into it, looking good!",
    "Stay with it, just a bit longer!",
)
SWITCH_SIDES = (
    "Now switch to the other side!",
    "Great, now let's switch sides!",
    "Time to switch to the other side!",
)
SUMMARY = (
    "Great job on the {exercise}!",
    "Nice work on {exercise}, {n} in total!",
    "Well done, that was {n} in total!",
    "That's time, good work on {exercise}!",
)
SUMMARY_UNCOUNTED = (
    "Nice work on the {exercise}!",
    "That's time, well done on that stretch!",
    "Good job, that felt good, right?",
)
GOOD_FORM = (
    "Great form, keep it up just like that!",
    "Looking good, nice and controlled movement!",
    "Perfect form, well done, keep going!",
)

_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_word(n: int) -> str:
    """0-99 in words ("twenty-one"), larger numbers as digits."""
    if 0 <= n < 20:
        return _NUMBERS[n]
    if 20 <= n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens - 2] + (f"-{_NUMBERS[ones]}" if ones else "")
    return str(n)


_WORD_VALUES = {w: i for i, w in enumerate(_NUMBERS)} | {
    w: 20 + 10 * i for i, w in enumerate(_TENS)
}
_NUMBER_TOKEN = re.compile(r"\b(\d+|[a-z]+(?:-[a-z]+)?)\b")


def count_in(text: str) -> int | None:
    """The number a line says (``number_word``'s words or digits; the coach's lines hold no
    other numbers than rep counts), None when it says none."""
    for token in _NUMBER_TOKEN.findall(text.lower()):
        if token.isdigit():
            return int(token)
        parts = token.split("-")
        if all(p in _WORD_VALUES for p in parts) and (len(parts) == 1 or parts[0] in _TENS):
            return sum(_WORD_VALUES[p] for p in parts)
    return None


def say_duration(text: str, rng: np.random.Generator) -> float:
    """Seconds it takes to say ``text`` at 2.5-3 words per second, plus a breath."""
    return len(text.split()) / float(rng.uniform(*WORDS_PER_S)) + LINE_PAD_S


def pick(bank: tuple[str, ...], rng: np.random.Generator, avoid: str = "", **fmt: object) -> str:
    """A paraphrase from ``bank`` (not ``avoid``, the previous line), formatted."""
    n = fmt.get("n")
    if isinstance(n, int):
        fmt = {**fmt, "n": number_word(n), "N": number_word(n).capitalize()}
    options = [b for b in bank if b.format(**fmt) != avoid] or list(bank)
    return options[int(rng.integers(len(options)))].format(**fmt)


@dataclass(frozen=True)
class Line:
    """One coach utterance on the video clock (seconds from the first frame)."""

    t0: float
    t1: float
    text: str
    kind: str  # transition, start_ack, reminder, correction, fixed_ack, count, encourage, ...
    is_transition: bool = False


__all__ = [
    "COUNT",
    "ENCOURAGE",
    "FAST_PRAISE",
    "FIXED_ACK",
    "GOOD_FORM",
    "KEEP_GOING",
    "REMINDER",
    "SESSION_END",
    "SPEED_UP",
    "START_ACK",
    "START_AFTER_REMINDER",
    "SUMMARY",
    "SUMMARY_UNCOUNTED",
    "SWITCH_SIDES",
    "TRANSITION_FIRST",
    "TRANSITION_NEXT",
    "Line",
    "number_word",
    "pick",
    "say_duration",
]
