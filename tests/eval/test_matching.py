"""Temporal matching and F-score against the spec's pseudo-code and hand-computed cases."""

from __future__ import annotations

import itertools
import random

import pytest
from reference import reference_f, reference_match, reference_match_numpy

from livefit.eval.matching import (
    SegmentMatches,
    match_optimal,
    match_paper,
    match_segment,
    temporal_scores,
)

# ---- hand-computed cases -------------------------------------------------------------------------


def test_only_the_nearest_candidate_is_tried():
    # ref 2.1's nearest is 2.05, already taken by ref 2.0; 3.4 would fit (|dt| = 1.3) but is
    # never tried.
    assert match_paper([2.0, 2.1], [2.05, 3.4], ["a", "b"]) == [(0, 0)]
    assert match_optimal([2.0, 2.1], [2.05, 3.4], ["a", "b"]) == [(0, 0), (1, 1)]


def test_window_is_strictly_less_than_half_the_tolerance():
    assert match_paper([10.0], [11.5], ["a"]) == []  # exactly 1.5 s: no match
    assert match_paper([10.0], [8.5], ["a"]) == []
    assert match_paper([10.0], [11.4999], ["a"]) == [(0, 0)]
    assert match_paper([10.0], [8.5001], ["a"]) == [(0, 0)]
    assert match_paper([10.0], [11.9], ["a"], tolerance=4.0) == [(0, 0)]
    assert match_optimal([10.0], [11.5], ["a"]) == []


def test_candidates_must_come_after_the_last_match():
    # ref 1.0 takes candidate 1 (at 1.1); ref 5.0's nearest is candidate 0 (5.2): out of order.
    assert match_paper([1.0, 5.0], [5.2, 1.1], ["a", "b"]) == [(0, 1)]


def test_taken_candidate_leaves_the_reference_unmatched():
    assert match_paper([1.0, 1.1], [1.05], ["a"]) == [(0, 0)]
    assert match_paper([1.0, 1.1, 3.0], [1.05, 3.2], ["a", "b"]) == [(0, 0), (2, 1)]


def test_empty_candidate_text_blocks_the_match():
    assert match_paper([1.0], [1.0], [""]) == []
    # the nearest is empty; the non-empty one in the window is not tried
    assert match_paper([1.0], [1.0, 1.3], ["", "x"]) == []
    assert match_optimal([1.0], [1.0, 1.3], ["", "x"]) == [(0, 1)]


def test_ties_go_to_the_first_candidate():
    assert match_paper([2.0], [1.0, 3.0], ["a", "b"]) == [(0, 0)]
    # equal times: both refs pick candidate 0, the second finds it taken
    assert match_paper([2.0, 2.0], [2.0, 2.0], ["a", "b"]) == [(0, 0)]
    assert match_optimal([2.0, 2.0], [2.0, 2.0], ["a", "b"]) == [(0, 0), (1, 1)]


def test_no_candidates():
    assert match_paper([1.0, 2.0], [], []) == []
    assert match_optimal([1.0], [], []) == []
    assert match_paper([], [1.0], ["a"]) == []


def test_f_score_hand_computed():
    # Segment A: recall 1->1.2 ok, 5 -> nearest 1.2 taken, 9->9.6 ok (2 of 3);
    # precision 1.2->1 ok, 9.6->9 ok, 12 -> nearest 9 taken (2 of 3).
    # Segment B: silent (0 of 1 GT). P = 2/3, R = 2/4, F = 2PR/(P+R) = 4/7.
    a = match_segment([1.0, 5.0, 9.0], ["g"] * 3, [1.2, 9.6, 12.0], ["p"] * 3)
    b = match_segment([3.0], ["g"], [], [])
    assert a.recall == ((0, 0), (2, 1)) and a.precision == ((0, 0), (1, 2))
    s = temporal_scores([a, b])
    assert (s.matched_gt, s.matched_pred, s.n_gt, s.n_pred) == (2, 2, 4, 3)
    assert s.precision == pytest.approx(2 / 3, abs=1e-12)
    assert s.recall == pytest.approx(1 / 2, abs=1e-12)
    assert s.f_score == pytest.approx(4 / 7, abs=1e-12)


def test_f_score_of_nothing_is_zero_not_nan():
    s = temporal_scores([SegmentMatches((), (), 0, 0)])
    assert (s.precision, s.recall, s.f_score) == (0.0, 0.0, 0.0)


# ---- random cases against the reference ----------------------------------------------------


def _random_case(rng: random.Random):
    # A coarse 0.5 s grid makes ties, equal times and |dt| == 1.5 exactly common.
    def times(n):
        t = [rng.choice([0.5 * k for k in range(30)]) for _ in range(n)]
        return t if rng.random() < 0.2 else sorted(t)  # sometimes out of order

    n, m = rng.randint(0, 7), rng.randint(0, 7)
    texts = [rng.choice(["", "x", "y"]) if rng.random() < 0.2 else "z" for _ in range(m)]
    return times(n), times(m), texts


def test_paper_matching_equals_reference_on_random_cases():
    rng = random.Random(1234)
    for _ in range(3000):
        R, C, texts = _random_case(rng)
        for tol in (3.0, 2.0):
            ours = match_paper(R, C, texts, tol)
            assert ours == reference_match(R, C, texts, tol), (R, C, texts)
            assert ours == reference_match_numpy(R, C, texts, tol), (R, C, texts)


def test_paper_matching_equals_numpy_reference_on_random_real_times():
    # Real-valued times (differences of shifted-clock floats, as the evaluator computes them):
    # Python floats and numpy float64 give the same matches.
    rng = random.Random(4321)
    for _ in range(2000):
        start = 1650028800.0 + rng.uniform(0, 1e4)
        n, m = rng.randint(0, 8), rng.randint(0, 8)
        R = sorted(start + rng.uniform(0, 30) - start for _ in range(n))
        C = sorted(rng.uniform(-1, 31) for _ in range(m))
        texts = [rng.choice(["", "x", "x", "x"]) for _ in range(m)]
        assert match_paper(R, C, texts) == reference_match_numpy(R, C, texts)


def test_f_score_equals_reference_on_random_benchmarks():
    rng = random.Random(99)
    for _ in range(200):
        segs = []
        for _ in range(rng.randint(1, 12)):
            gt_t, pr_t, pr_x = _random_case(rng)
            gt_t = sorted(gt_t)
            segs.append((gt_t, ["g"] * len(gt_t), sorted(pr_t), pr_x))
        ours = temporal_scores([match_segment(*seg) for seg in segs])
        p, r, f = reference_f(segs)
        assert abs(ours.precision - p) < 1e-9 and abs(ours.recall - r) < 1e-9
        assert abs(ours.f_score - f) < 1e-9


def _brute_force_optimal(R, C, texts, tol=3.0):
    """Largest order-preserving matching, then smallest total |dt|, by enumeration."""
    ok = [(i, j) for i in range(len(R)) for j in range(len(C)) if abs(R[i] - C[j]) < tol / 2]
    ok = [(i, j) for i, j in ok if texts[j] != ""]
    best = (0, 0.0)
    for k in range(min(len(R), len(C)), 0, -1):
        costs = [
            sum(abs(R[i] - C[j]) for i, j in combo)
            for combo in itertools.combinations(ok, k)
            if all(a[0] < b[0] and a[1] < b[1] for a, b in itertools.pairwise(combo))
        ]
        if costs:
            best = (k, min(costs))
            break
    return best


def test_optimal_matching_is_maximum_and_cheapest():
    rng = random.Random(7)
    for _ in range(400):
        R, C, texts = _random_case(rng)
        R, C = sorted(R), sorted(C)
        pairs = match_optimal(R, C, texts)
        assert all(a[0] < b[0] and a[1] < b[1] for a, b in itertools.pairwise(pairs))
        assert all(abs(R[i] - C[j]) < 1.5 and texts[j] != "" for i, j in pairs)
        k, cost = _brute_force_optimal(R, C, texts)
        assert len(pairs) == k
        assert sum(abs(R[i] - C[j]) for i, j in pairs) == pytest.approx(cost, abs=1e-9)
        assert len(pairs) >= len(match_paper(R, C, texts))
