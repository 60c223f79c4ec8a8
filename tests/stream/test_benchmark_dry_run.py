"""The GPU part of benchmarks/stream_step.py runs once on a GPU machine: its code path is run
here on a tiny model (dynamo tracing with the eager backend) so that run cannot fail on a bug."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "stream_step.py"


@pytest.mark.filterwarnings("ignore")
@pytest.mark.slow(13)
def test_gpu_part_dry_run(tmp_path):
    spec = importlib.util.spec_from_file_location("stream_step", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "gpu.json"
    args = argparse.Namespace(
        device="cpu",
        gpu_shape="tiny",
        compile_backend="eager",
        steps=2,
        time_budget=300.0,
        json_out=str(out),
        compile_variants=["tuned"],
    )
    bench.gpu_part(args)
    results = json.loads(out.read_text())
    errors = {k: v for k, v in results.items() if isinstance(v, str) and "error" in v}
    assert errors == {}
    for key in (
        "floor_ms_stream_vlm",
        "bare_hf_eager_ms_b1",
        "engine_eager_ms_b1",
        "stream_vlm_eager_ms_b64",
        "bare_hf_compiled_static_ms_b1",
        "stream_vlm_compiled_static_ms_b1",
        "stream_vlm_compiled_static_ms_b64",
        "stream_vlm_compiled_static_ms_b1_tuned",
        "bare_hf_compiled_static_ms_b1_tuned",
        "engine_compiled_ms_b1",
    ):
        assert isinstance(results[key], float) and results[key] > 0, key
