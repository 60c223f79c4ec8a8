"""QEVD formats on disk, read without torch.

- ``qevd``: the long-range QEVD-FIT-COACH reader (workouts, segments, their features);
  ``qevd_format``: its layout names, clock and bounds; ``features``: feature files and the
  extraction record; ``clips``: the short QEVD-FIT-300K clips and their labels.
- ``labels``: the "exercise - variant" fine-grained label; ``landmarks``: body landmark tracks and
  QEVD-SIM's sidecar; ``prompts``: the coach's prompts.
- ``cli``: ``livefit data``.
"""
