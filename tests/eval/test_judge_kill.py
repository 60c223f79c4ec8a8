"""kill -9 during a judged ``livefit evaluate``, then resume: the judge cache ends byte for byte
as an uninterrupted run's (one request at a time, so in the same order), no pair is asked twice
once cached, and the scores are the same. A local stand-in judge answers slowly enough to be
killed in the middle."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

from chat_stand_in import StandInChat
from qevd_fixture import write_quirk_tree
from typer.testing import CliRunner

from livefit.cli import app
from livefit.data.qevd import load_segments

DELAY_S = 0.15  # per reply: six pairs take about a second


class StandInJudge(StandInChat):
    """An OpenAI-compatible server whose score depends only on the ground truth text."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        super().__init__(self._score)

    def _score(self, body: dict) -> str:
        gt = body["messages"][1]["content"].split("-Ground truth feedback: ")[1].split("\n")[0]
        self.asked.append(gt)
        time.sleep(DELAY_S)
        return "{'score': " + str(zlib.crc32(gt.encode()) % 5 + 1) + "}"


def _predictions(root: Path, path: Path) -> None:
    """A prediction at each ground truth's time: every feedback becomes a judged pair."""
    lines = [
        {
            "segment_id": seg.segment_id,
            "feedbacks": [
                {"time": t, "text": f"pred {text}"}
                for t, text in zip(seg.response_times, seg.responses, strict=True)
            ],
        }
        for seg in load_segments(root)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _args(root: Path, pred: Path, out: Path, url: str) -> list[str]:
    judge = ["--judge-url", url, "--judge-model", "stand-in", "--judge-concurrency", "1"]
    return ["evaluate", "--data", str(root), "--predictions", str(pred), "--out", str(out), *judge]


def _results(out: Path) -> dict:
    (path,) = glob.glob(str(out / "results_*.json"))
    data = json.loads(Path(path).read_text())
    return {"metrics": data["metrics"], "counts": data["counts"]}


def test_kill9_during_judging_then_resume(tmp_path: Path) -> None:
    root = write_quirk_tree(tmp_path / "root", feature_shape=None)
    pred = tmp_path / "pred.jsonl"
    _predictions(root, pred)
    judge = StandInJudge()
    try:
        ref = CliRunner().invoke(app, _args(root, pred, tmp_path / "ref", judge.url))
        assert ref.exit_code == 0, ref.output
        pairs = len(judge.asked)
        assert pairs >= 5 and _results(tmp_path / "ref")["metrics"]["llm_acc"] > 0

        out = tmp_path / "killed"
        cache = out / "judge_cache.jsonl"
        proc = subprocess.Popen(
            [sys.executable, "-m", "livefit", *_args(root, pred, out, judge.url)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if cache.is_file() and cache.read_text().count("\n") >= 2:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done = cache.read_text().count("\n")
        assert 2 <= done < pairs
        with open(cache, "a") as f:  # and as if the kill had landed in the middle of a line
            f.write('{"key": "0123')

        judge.asked.clear()
        resumed = CliRunner().invoke(app, _args(root, pred, out, judge.url))
        assert resumed.exit_code == 0, resumed.output
        # Only the pairs not yet cached were asked again (the one being asked when killed, too).
        assert pairs - done - 1 <= len(judge.asked) <= pairs - done
    finally:
        judge.close()
    assert cache.read_bytes() == (tmp_path / "ref" / "judge_cache.jsonl").read_bytes()
    assert _results(out) == _results(tmp_path / "ref")
