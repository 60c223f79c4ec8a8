"""Classification report and confusion matrix against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from livefit.train.report import (
    classification_report,
    confusion_matrix,
    format_report,
    plot_confusion,
)


def test_report_matches_hand_computed_values(tmp_path):
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    cm = confusion_matrix(y_true, y_pred, 4)
    assert cm.tolist() == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    report = classification_report(y_true, y_pred, ["a", "b", "c", "unused"])
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["per_class"]["a"] == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3}
    )
    assert report["per_class"]["b"]["precision"] == pytest.approx(0.5)
    assert report["per_class"]["c"]["f1"] == pytest.approx(2 / 3)  # p = 1/2, r = 1
    assert "unused" not in report["per_class"]  # never true, never predicted
    assert report["macro_recall"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    text = format_report(report, "title")
    assert text.splitlines()[0] == "title" and "0.667" in text
    plot_confusion(cm, ["a", "b", "c", "unused"], tmp_path / "cm.png", "test")
    assert (tmp_path / "cm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
