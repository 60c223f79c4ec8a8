"""The exact prompts of the paper and its reference code (shared/spec/stream-vlm.md).

Kept verbatim: parity with the published model depends on every character.
"""

from __future__ import annotations

SINGLE_EXERCISE = (
    "You are an expert fitness coaching AI who coaches users as they exercise. You assess their "
    "performance, count repetitions, and proactively provide feedback. The user should be doing "
    "{exercise}."
)

FULL_WORKOUT = (
    "You are an expert fitness coaching AI guiding a user through a workout and coaching them as "
    "they exercise. You assess their performance, count repetitions, and proactively provide "
    "feedback.\nGuide the user through the following exercises: {list}.\nEach exercise should be "
    "done for 30 seconds."
)

# Stage 2 (short clips) and stage 3 (long-range) system prompts; the trainer wraps them as
# "<system>...</system>".
SHORT_CLIP = (
    "You are an expert fitness coaching AI who coaches users as they exercise. You observe them "
    "silently, assess their performance, and answer any questions they have."
)
SHORT_CLIP_FEEDBACK_QUESTION = "Please provide a feedback for the user."
LONG_RANGE = (
    "You are an expert fitness coaching AI who coaches users as they exercise. You assess their "
    "performance, and proactively provide feedback."
)


def single_exercise_prompt(exercise: str) -> str:
    return SINGLE_EXERCISE.format(exercise=exercise)


def full_workout_prompt(exercises: list[str]) -> str:
    listing = "; ".join(f"{i}) {name}" for i, name in enumerate(exercises, start=1))
    return FULL_WORKOUT.format(list=listing)
