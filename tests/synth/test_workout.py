"""The simulated user and rule-based coach of a long-range workout."""

from __future__ import annotations

import numpy as np
import pytest

from livefit.data.qevd import collapse_spans, transition_exercise
from livefit.synth import coach as C
from livefit.synth.workout import MIN_GAP_S, REACTION_S, VISIBLE_S, choose_exercises, plan_workout
from livefit.synth.writer import dense_feedbacks, qevd_record


def _plans(n: int = 12, exercise_s: float = 30.0):
    for seed in range(n):
        rng = np.random.default_rng(seed)
        yield plan_workout(rng, choose_exercises(rng, 2), exercise_s)


def test_workout_structure() -> None:
    for plan in _plans():
        trans = [ln for ln in plan.lines if ln.is_transition]
        assert [transition_exercise(ln.text) for ln in trans[:-1]] == plan.exercises
        assert trans[0].text.startswith("First up are ")
        assert all(ln.text.startswith("Moving on to ") for ln in trans[1:-1])
        assert plan.lines[-1].is_transition and plan.lines[-1].kind == "session_end"
        assert 5 <= len(plan.exercises) <= 6
        assert 180 < plan.duration < 260  # paper: 213 s
        kinds = [ln.kind for ln in plan.lines]
        assert kinds.count("summary") == len(plan.exercises)


def test_lines_never_overlap_and_last_as_long_as_it_takes_to_say() -> None:
    for plan in _plans():
        for a, b in zip(plan.lines, plan.lines[1:], strict=False):
            assert b.t0 >= a.t1 + MIN_GAP_S - 1e-9
        for ln in plan.lines:
            words = len(ln.text.split())
            assert words / C.WORDS_PER_S[1] < ln.t1 - ln.t0 - C.LINE_PAD_S + 1e-9
            assert ln.t1 - ln.t0 - C.LINE_PAD_S <= words / C.WORDS_PER_S[0] + 1e-9


def test_corrections_follow_visible_mistakes_and_users_fix_them() -> None:
    seen = 0
    for plan in _plans(20):
        for ln in plan.lines:
            if ln.kind != "correction":
                continue
            seen += 1
            # The mistake the line corrects started at least ramp + reaction time earlier.
            k = next(i for i, iv in enumerate(plan.intervals) if iv.t0 <= ln.t0 < iv.t1 + 1e-9)
            current = plan.intervals[k]
            assert current.mistakes, ln
            mistake = current.mistakes[0]
            while k > 0 and mistake in plan.intervals[k - 1].mistakes:  # back to its onset
                k -= 1
            assert ln.t0 - plan.intervals[k].t0 >= VISIBLE_S + REACTION_S[0] - 0.11
            assert any(ln.text in mk.corrections for mk in _mistakes(current.activity, mistake))
    assert seen >= 10


def _mistakes(activity: str, name: str):
    from livefit.synth.exercises import BY_NAME

    return [m for m in BY_NAME[activity].mistakes if m.name == name]


def test_fixed_mistakes_are_acknowledged() -> None:
    acks = 0
    for plan in _plans(20):
        for i, ln in enumerate(plan.lines):
            if ln.kind == "fixed_ack":
                acks += 1
                assert any(p.kind == "correction" for p in plan.lines[max(0, i - 3) : i])
    assert acks >= 5


def test_counts_grow_within_an_exercise() -> None:
    words = {C.number_word(n): n for n in range(100)}
    for plan in _plans():
        last = -1
        for ln in plan.lines:
            if ln.kind == "transition":
                last = -1
            if ln.kind == "count":
                n = next(
                    words[w.strip(",!").lower()]
                    for w in ln.text.split()
                    if w.strip(",!").lower() in words
                )
                assert n > last
                last = n


def test_dense_feedbacks_round_trip_to_spans() -> None:
    plan = next(_plans(1))
    times = np.arange(int(plan.duration * 30)) / 30
    dense = dense_feedbacks(plan.lines, times)
    spans = collapse_spans(dense)
    assert [s[0] for s in spans] == [ln.text for ln in plan.lines]
    record = qevd_record("v.mp4", "v_timestamps.npy", plan.lines, times, np.arange(len(times)))
    assert record["is_transition"] == [ln.is_transition for ln in plan.lines]


def test_touching_identical_lines_are_rejected() -> None:
    lines = [C.Line(0.0, 1.0, "Go!", "count"), C.Line(1.0, 2.0, "Go!", "count")]
    times = np.arange(90) / 30
    with pytest.raises(ValueError, match="2 coach lines gave 1 spans"):
        qevd_record("v.mp4", "t.npy", lines, times, np.arange(90))


def test_the_count_a_line_says_reads_back_every_count_line() -> None:
    for plan in _plans():
        for ln in plan.lines:
            said = C.count_in(ln.text)
            if said is not None:  # counts and summaries ("eleven in total") say rep counts
                assert ln.kind in ("count", "summary"), ln
            else:
                assert ln.kind != "count", ln
    assert [
        C.count_in(C.pick((b,), np.random.default_rng(0), n=n, exercise="squats"))
        for b, n in zip(C.COUNT, (1, 12, 20, 37, 99), strict=True)
    ] == [1, 12, 20, 37, 99]
    assert C.count_in("Rep 104 of squats") == 104 and C.count_in("Good form, that's") is None


def test_number_words_and_paraphrase_choice() -> None:
    assert C.number_word(7) == "seven" and C.number_word(21) == "twenty-one"
    assert C.number_word(40) == "forty" and C.number_word(120) == "120"
    rng = np.random.default_rng(0)
    first = C.pick(C.FIXED_ACK, rng)
    assert all(C.pick(C.FIXED_ACK, rng, avoid=first) != first for _ in range(20))
    assert C.pick(("That's {n}!",), rng, n=3) == "That's three!"


def test_statistics_are_close_to_the_paper() -> None:
    """Table 2: 5.0 feedbacks per exercise, ~5.3 s silence, 6.3-6.6 words, 213 s workouts."""
    per_ex, start_to_start, words, durations = [], [], [], []
    for plan in _plans(40):
        durations.append(plan.duration)
        trans = [i for i, ln in enumerate(plan.lines) if ln.is_transition]
        for a, b in zip(trans, trans[1:], strict=False):
            inside = plan.lines[a + 1 : b]
            per_ex.append(len(inside))
            words += [len(ln.text.split()) for ln in inside]
            start_to_start += [q.t0 - p.t0 for p, q in zip(inside, inside[1:], strict=False)]
    assert 4.0 <= np.mean(per_ex) <= 7.0
    assert 4.0 <= np.mean(start_to_start) <= 7.0
    assert 5.0 <= np.mean(words) <= 9.0
    assert 195 <= np.mean(durations) <= 235
