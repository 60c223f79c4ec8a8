"""The CNN weights' and ``--device``'s expected errors, torch-free.

``livefit.vision.weights`` raises them (and re-exports them); they live here so that the stage
CLIs can name them in ``except`` clauses at module level without loading torch for
``livefit --help``.
"""

from __future__ import annotations


class WeightsError(ValueError):
    """A weights file that cannot be imported; the message names the file."""


class DeviceError(ValueError):
    """A ``--device`` this torch build cannot run on; the message names the option value."""
