"""livefit: live, proactive AI fitness coaching from a video stream.

The package follows the data (see README): ``data`` (QEVD formats) -> ``synth`` (QEVD-SIM
generator) -> ``vision`` (causal 3D CNN) -> ``model`` (LM + cross-attention adapters + action
tokens) -> ``stream`` (streaming engine, events) -> ``eval`` (matching, metrics, reports);
``train``, ``baselines`` and ``app`` (CLI, web) sit beside.
"""

__version__ = "0.1.0"
