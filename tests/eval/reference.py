"""The reference semantics of shared/spec/evaluation-protocol.md sections 2-3, written straight
from its pseudo-code, independently of livefit.eval (what the tests compare against)."""

from __future__ import annotations


def reference_match(R, C, text, tolerance=3.0):
    """shared/spec/evaluation-protocol.md section 2, line by line."""
    last = -1
    matched = []
    for i in range(len(R)):
        if not C:
            break
        sq = [(C[j] - R[i]) ** 2 for j in range(len(C))]
        j = sq.index(min(sq))  # first such j on ties
        if (
            abs(R[i] - C[j]) < tolerance / 2
            and j > last
            and j not in [m[1] for m in matched]
            and text[j] != ""
        ):
            matched.append((i, j))
            last = j
    return matched


def reference_f(segments, tolerance=3.0):
    """Section 3: (gt_times, gt_texts, pred_times, pred_texts) per segment -> P, R, F."""
    mg = mp = ng = npred = 0
    for gt_t, gt_x, pr_t, pr_x in segments:
        mg += len(reference_match(gt_t, pr_t, pr_x, tolerance))
        mp += len(reference_match(pr_t, gt_t, gt_x, tolerance))
        ng += len(gt_t)
        npred += len(pr_t)
    p = mp / (npred + 1e-12)
    r = mg / (ng + 1e-12)
    return p, r, 2 * p * r / (p + r + 1e-12)


def reference_match_numpy(R, C, text, tolerance=3.0):
    """The same pseudo-code over numpy float64 arrays with ``np.argmin`` (first index on ties),
    the way the published evaluator runs it."""
    import numpy as np

    R, C = np.asarray(R, dtype=np.float64), np.asarray(C, dtype=np.float64)
    last, matched_j, pairs = -1, [], []
    if len(C) == 0:
        return pairs
    for i, x in enumerate(R):
        j = int(np.argmin((C - x) ** 2))
        if np.abs(x - C[j]) < tolerance / 2.0 and j > last and j not in matched_j and text[j] != "":
            pairs.append((i, j))
            matched_j.append(j)
            last = j
    return pairs
