"""The pieces of exact resume that need no training run: every global RNG round-trips through a
checkpoint file, and a resumed run's ``metrics.jsonl`` is cut back to its checkpoint."""

from __future__ import annotations

import json
import random

import numpy as np
import torch

from livefit.train.checkpoint import count_log_lines, truncate_log
from livefit.train.rng import rng_state, set_rng_state


def _draws() -> tuple:
    return random.random(), np.random.randn(), np.random.randn(), torch.rand(3).tolist()


def test_every_global_generator_round_trips_through_a_weights_only_file(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.randn()  # NumPy's cached second Gaussian is part of its state
    torch.save(rng_state(), tmp_path / "state.pt")
    expected = _draws()
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    set_rng_state(torch.load(tmp_path / "state.pt", weights_only=True))
    assert _draws() == expected


def test_an_old_checkpoint_rng_tensor_restores_torch(tmp_path):
    torch.manual_seed(4)
    state = torch.get_rng_state()
    expected = torch.rand(2)
    set_rng_state(state)
    assert torch.equal(torch.rand(2), expected)


def _write(path, records, torn: str = "") -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + torn)


def test_log_is_cut_back_to_the_checkpoint_line_count(tmp_path):
    log = tmp_path / "metrics.jsonl"
    records = [
        {"step": 1, "loss": 1.0},
        {"step": 2, "loss": 0.9},
        {"step": 2, "eval/x": 1.0},
        {"step": 3, "loss": 0.8},
    ]
    _write(log, records, torn='{"step": 4, "lo')
    assert count_log_lines(log) == 4
    truncate_log(log, step=2, lines=2)  # the evaluation at step 2 came after the checkpoint
    assert [json.loads(x) for x in log.read_text().splitlines()] == records[:2]


def test_log_of_an_older_checkpoint_is_cut_by_step(tmp_path):
    log = tmp_path / "metrics.jsonl"
    records = [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.9}, {"step": 3, "loss": 0.8}]
    _write(log, records, torn="{")
    truncate_log(log, step=2)
    assert [json.loads(x) for x in log.read_text().splitlines()] == records[:2]
    before = log.stat().st_mtime_ns
    truncate_log(log, step=2)  # nothing to cut: left alone
    assert log.stat().st_mtime_ns == before
    truncate_log(tmp_path / "missing.jsonl", step=1)
    assert not (tmp_path / "missing.jsonl").exists()
