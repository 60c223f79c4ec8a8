"""QEVD-FIT-COACH evaluation: temporal matching, metrics, LLM judge, results files.

``matching`` (paper rule + optimal extra) -> ``text_metrics`` / ``bertscore`` / ``judge``
(per-pair scores) -> ``evaluate`` (per-sample records, aggregation) -> ``report`` (files, table).
"""
