"""Baselines and floors that coaches are compared with (``periodic``: generic encouragement at
fixed intervals)."""
