"""Per-class classification report and confusion-matrix plot (stage-1 evaluation output).

Per-sample predictions come in, aggregation happens here: precision / recall / F1 / support per
class, accuracy and macro averages, a fixed-width text table, and a matplotlib confusion matrix
(rows = truth, columns = prediction, row-normalised colours, counts written in small matrices).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from livefit.io import atomic_write


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``[num_classes, num_classes]`` counts, rows = truth, columns = prediction."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str]) -> dict:
    """Per-class precision, recall, F1 and support, plus accuracy and macro averages over the
    classes that occur in the truth."""
    cm = confusion_matrix(y_true, y_pred, len(names))
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(names)
        if support[i] or predicted[i]
    }
    total = int(support.sum())
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "support": total,
        "per_class": per_class,
    }


def format_report(report: dict, title: str = "") -> str:
    """The report as a text table (one line per class)."""
    width = max([len(n) for n in report["per_class"]] + [10])
    lines = [title] if title else []
    lines.append(f"{'class':<{width}}  precision  recall     f1  support")
    for name, row in report["per_class"].items():
        lines.append(
            f"{name:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:5.3f}"
            f"  {row['support']:7d}"
        )
    lines.append(
        f"{'accuracy':<{width}}  {'':9}  {'':6}  {report['accuracy']:5.3f}  {report['support']:7d}"
    )
    lines.append(
        f"{'macro avg':<{width}}  {report['macro_precision']:9.3f}  {report['macro_recall']:6.3f}"
        f"  {report['macro_f1']:5.3f}"
    )
    return "\n".join(lines) + "\n"


def plot_confusion(cm: np.ndarray, names: Sequence[str], path: Path, title: str) -> None:
    """Save a row-normalised confusion matrix as a PNG (only classes that occur are shown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keep = np.flatnonzero(cm.sum(axis=0) + cm.sum(axis=1))
    cm, names = cm[np.ix_(keep, keep)], [names[i] for i in keep]
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    n = len(names)
    size = min(4 + 0.35 * n, 40)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ticks = n <= 80
    ax.set_xticks(range(n) if ticks else [])
    ax.set_yticks(range(n) if ticks else [])
    if ticks:
        ax.set_xticklabels(names, rotation=90, fontsize=7)
        ax.set_yticklabels(names, fontsize=7)
    if n <= 25:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    color = "white" if norm[i, j] > 0.5 else "black"
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=6, color=color)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
