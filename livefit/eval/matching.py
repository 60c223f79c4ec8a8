"""Temporal matching of feedbacks and the micro-averaged temporal F-score.

Sits at the start of evaluation: per segment, ground-truth and predicted feedback times ->
matched index pairs (``match_paper``: the reference evaluator's greedy nearest-candidate rule,
shared/spec/evaluation-protocol.md section 2; ``match_optimal``: an extra, order-preserving
maximum matching within the same window) -> per-segment counts -> ``temporal_scores`` (section 3).
Text metrics are then computed on the recall-direction pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Matching = Literal["paper", "optimal"]
PAPER_TOLERANCE_S = 3.0  # the paper's "3 second window"; a match needs |dt| < tolerance / 2
EPS = 1e-12  # added to every denominator, as the reference evaluator does


def match_paper(
    ref_times: Sequence[float],
    cand_times: Sequence[float],
    cand_texts: Sequence[str],
    tolerance: float = PAPER_TOLERANCE_S,
) -> list[tuple[int, int]]:
    """The reference evaluator's one-direction matching; returns ``[(ref index, cand index)]``.

    Each reference, in order, tries only its single nearest candidate (smallest squared time
    difference, first index on ties) and takes it if it is strictly within ``tolerance / 2``,
    later than the last accepted candidate, not taken, and has non-empty text.
    """
    half = tolerance / 2
    last = -1
    taken: set[int] = set()
    matched: list[tuple[int, int]] = []
    if not cand_times:
        return matched
    for i, r in enumerate(ref_times):
        best_j, best_d = 0, (cand_times[0] - r) ** 2
        for j in range(1, len(cand_times)):
            d = (cand_times[j] - r) ** 2
            if d < best_d:  # strict: the first j wins ties
                best_j, best_d = j, d
        if (
            abs(r - cand_times[best_j]) < half
            and best_j > last
            and best_j not in taken
            and cand_texts[best_j] != ""
        ):
            matched.append((i, best_j))
            taken.add(best_j)
            last = best_j
    return matched


def match_optimal(
    ref_times: Sequence[float],
    cand_times: Sequence[float],
    cand_texts: Sequence[str],
    tolerance: float = PAPER_TOLERANCE_S,
) -> list[tuple[int, int]]:
    """Order-preserving maximum matching within the same strict window (not the paper's rule).

    Among all matchings whose pairs increase in both indices and satisfy
    ``|ref - cand| < tolerance / 2`` (non-empty candidate text), return one with the most pairs;
    among those, the smallest total ``|ref - cand|``; remaining ties are broken by preferring the
    pair that ends latest in both sequences while backtracking (deterministic). O(n * m) DP.
    """
    half = tolerance / 2
    n, m = len(ref_times), len(cand_times)
    # best[i][j] = (pairs, -total |dt|) over refs[:i] and cands[:j]
    best = [[(0, 0.0)] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        row, prev = best[i], best[i - 1]
        r = ref_times[i - 1]
        for j in range(1, m + 1):
            cand = max(prev[j], row[j - 1])
            dt = abs(r - cand_times[j - 1])
            if dt < half and cand_texts[j - 1] != "":
                diag = prev[j - 1]
                cand = max(cand, (diag[0] + 1, diag[1] - dt))
            row[j] = cand
    pairs: list[tuple[int, int]] = []
    i, j = n, m
    while i > 0 and j > 0:
        dt = abs(ref_times[i - 1] - cand_times[j - 1])
        diag = best[i - 1][j - 1]
        if dt < half and cand_texts[j - 1] != "" and best[i][j] == (diag[0] + 1, diag[1] - dt):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif best[i][j] == best[i - 1][j]:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


MATCHERS = {"paper": match_paper, "optimal": match_optimal}


@dataclass(frozen=True)
class SegmentMatches:
    """Both directions of one segment's matching (section 3)."""

    recall: tuple[tuple[int, int], ...]  # (gt index, pred index): GT as reference
    precision: tuple[tuple[int, int], ...]  # (pred index, gt index): predictions as reference
    n_gt: int
    n_pred: int


def match_segment(
    gt_times: Sequence[float],
    gt_texts: Sequence[str],
    pred_times: Sequence[float],
    pred_texts: Sequence[str],
    matching: Matching = "paper",
    tolerance: float = PAPER_TOLERANCE_S,
) -> SegmentMatches:
    """Recall direction (GT -> predictions) and precision direction (predictions -> GT)."""
    match = MATCHERS[matching]
    return SegmentMatches(
        recall=tuple(match(gt_times, pred_times, pred_texts, tolerance)),
        precision=tuple(match(pred_times, gt_times, gt_texts, tolerance)),
        n_gt=len(gt_times),
        n_pred=len(pred_times),
    )


@dataclass(frozen=True)
class TemporalScores:
    """Micro-averaged temporal precision, recall and F-score with the counts behind them."""

    precision: float
    recall: float
    f_score: float
    matched_gt: int
    matched_pred: int
    n_gt: int
    n_pred: int


def temporal_scores(segments: Sequence[SegmentMatches]) -> TemporalScores:
    """Sum the counts over the whole benchmark, then P, R and F (each denominator + 1e-12)."""
    matched_gt = sum(len(s.recall) for s in segments)
    matched_pred = sum(len(s.precision) for s in segments)
    n_gt = sum(s.n_gt for s in segments)
    n_pred = sum(s.n_pred for s in segments)
    precision = matched_pred / (n_pred + EPS)
    recall = matched_gt / (n_gt + EPS)
    f_score = 2 * precision * recall / (precision + recall + EPS)
    return TemporalScores(precision, recall, f_score, matched_gt, matched_pred, n_gt, n_pred)
