"""The fine-grained label format (``livefit.data.labels``): round trips, and the edge cases read
exactly as the parse sites read them before they shared it (``str.split(" - ", 1)``)."""

from __future__ import annotations

import pytest

from livefit.data.labels import SEPARATOR, fine_label, split_fine_label
from livefit.synth.exercises import fine_grained_classes, flip_map


@pytest.mark.parametrize(
    ("activity", "variant", "fine"),
    [
        ("squats", "shallow", "squats - shallow"),
        ("lunges", "left leg", "lunges - left leg"),
        ("general", "standing idle", "general - standing idle"),
        ("squats", "knees - in", "squats - knees - in"),  # a variant may hold the separator
        ("squats", "", "squats - "),
    ],
)
def test_round_trip(activity, variant, fine):
    assert fine_label(activity, variant) == fine
    assert split_fine_label(fine) == (activity, variant)


@pytest.mark.parametrize(
    "fine",
    ["squats", "", " - ", "a - b - c", "a-b", "a -b", "a- b", "a  -  b", " - shallow", "x - "],
)
def test_split_reads_as_the_old_parse_sites(fine):
    # vision.activity.exercise_of and train.vision_stage.mistake_of before the shared module
    activity = fine.split(" - ", 1)[0]
    variant = fine.split(" - ", 1)[1] if " - " in fine else ""
    assert split_fine_label(fine) == (activity, variant)


def test_no_separator_is_all_activity():
    assert split_fine_label("squats") == ("squats", "")
    assert split_fine_label("") == ("", "")
    assert split_fine_label("high-knees") == ("high-knees", "")


def test_every_synthetic_class_round_trips():
    classes = fine_grained_classes()
    assert len(set(classes)) == len(classes)
    for fine in classes:
        activity, variant = split_fine_label(fine)
        assert SEPARATOR not in activity and variant
        assert fine_label(activity, variant) == fine
    for left, right in flip_map().items():
        assert split_fine_label(left)[0] == split_fine_label(right)[0]
