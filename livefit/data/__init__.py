"""QEVD formats: the QEVD-FIT-COACH reader (``qevd``), prompts, and short-clip formats."""
