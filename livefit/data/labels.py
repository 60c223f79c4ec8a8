"""The fine-grained label format, ``"<exercise> - <variant>"``: built and parsed only here.

A fine-grained class names an exercise (or ``general``) and what is particular about the frame: a
mistake (``"squats - shallow"``), a side (``"lunges - left leg"``), a tempo, good form, or the
general activity (``"general - standing idle"``). QEVD-FIT-300K's ``labels.json`` and
``clips.json`` store them; ``livefit.synth`` builds them, stage 1 (``livefit.train.vision_stage``),
the activity head (``livefit.vision.activity``) and the Socratic baseline read them back.
"""

from __future__ import annotations

SEPARATOR = " - "


def fine_label(activity: str, variant: str) -> str:
    """``("squats", "shallow")`` -> ``"squats - shallow"``."""
    return f"{activity}{SEPARATOR}{variant}"


def split_fine_label(fine: str) -> tuple[str, str]:
    """``"squats - shallow"`` -> ``("squats", "shallow")``, at the first separator (a variant may
    hold another one); a label without a separator is all activity: ``("squats", "")``."""
    activity, _, variant = fine.partition(SEPARATOR)
    return activity, variant


__all__ = ["SEPARATOR", "fine_label", "split_fine_label"]
