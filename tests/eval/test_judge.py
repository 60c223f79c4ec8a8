"""LLM-Acc: exact prompts, the literal parser on nasty replies, the HTTP backend against a local
server, the cache that makes a judge run resumable, and the transformers backend on a tiny
random model built here (no downloads)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from livefit.eval.judge import (
    SYSTEM_PROMPT,
    USER_PROMPT,
    HTTPJudge,
    JudgeConfig,
    JudgeError,
    JudgeItem,
    judge_messages,
    parse_score,
    run_judge,
)

# The prompts as JSON strings, copied from shared/spec/evaluation-protocol.md.
SPEC_PROMPTS = r"""{
 "system": "You are an intelligent chatbot designed for evaluating feedbacks provided by a virtual fitness coach to a person. You always provide your responses as a python dictionary string.\nYour task is to compare the accuracy of the the predicted feedback with the ground truth feedback. Here is how you can accomplish this:\n-The predicted feedback must be factually accurate, relevant and align with the ground truth feedback.\n-Consider synonyms or paraphrases as valid matches.\n-Take into account repetition counts that can expressed both in numeric form or in words.",
 "user": "Please evaluate the following predicted feedback:\n-Ground truth feedback: {GT}\n-Predicted feedback: {PRED}\n\nProvide your evaluation as a python dictionary string with the accuracy score where the score is an integer value between 1 and 5, with 5 indicating the highest level of accuracy.Generate the response only in the form of a Python dictionary string with keys 'score', where its value is the accuracy score in INTEGER, not STRING.For example, your response should look like this: {'score': int(score)}.DO NOT PROVIDE ANY OTHER OUTPUT TEXT OR EXPLANATION."
}"""  # noqa: E501


def test_prompts_are_verbatim():
    spec = json.loads(SPEC_PROMPTS)
    assert SYSTEM_PROMPT == spec["system"] and USER_PROMPT == spec["user"]
    spec_file = Path("/work/shared/spec/evaluation-protocol.md")
    if spec_file.is_file():  # the spec's own copy, where it is available
        text = spec_file.read_text()
        block = text[text.index('```json\n{\n "system"') + 8 :]
        on_disk = json.loads(block[: block.index("```")])
        assert (SYSTEM_PROMPT, USER_PROMPT) == (on_disk["system"], on_disk["user"])
    msgs = judge_messages("Keep your {back} straight", "Back straight!")
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert "-Ground truth feedback: Keep your {back} straight\n" in msgs[1]["content"]
    assert "-Predicted feedback: Back straight!\n" in msgs[1]["content"]
    assert "{'score': int(score)}.DO NOT" in msgs[1]["content"]


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("{'score': 4}", 4.0),
        ('{"score": 3}', 3.0),
        ("Sure! {'score': 5} Hope this helps.", 5.0),
        ("{'score': '2'}", 2.0),  # float() of a string, as the reference
        ("{'score': 4.5}", 4.5),
        ("{'score': 3, 'reason': 'close'}", 3.0),
        ("{'score': 2, 'score': 5}", 5.0),  # a dict literal keeps the last key
        ("{'score': int(score)}", None),  # a call is not a literal
        ("{'score': __import__('os').system('true')}", None),  # never eval
        ("{score: 4}", None),
        ("{'Score': 4}", None),
        ("{'score': [4]}", None),
        ("{4}", None),  # a set
        ("{}", None),
        ("{'score': 4} {'score': 5}", None),  # two dicts
        ("score: 4", None),
        ("", None),
        ("{'score': {'value': 4}}", None),  # non-greedy: the inside is "'score': {'value': 4"
        ("{\n'score': 4\n}", None),  # "." does not cross lines (the reference's regex)
        ("{'score': float('nan')}", None),
        ("{'score': 'inf'}", None),
        ("{'score': " + "(" * 20 + "1" + ")" * 20 + "}", 1.0),
        ("{'score': " + "[" * 5000 + "]" * 5000 + "}", None),  # too deep: unparsed, no crash
    ],
)
def test_parse_score(reply, score):
    assert parse_score(reply) == score


class _FakeServer:
    """A tiny OpenAI-compatible server: answers from the GT text, fails on request."""

    def __init__(self, fail_first: int = 0, status: int = 500):
        self.requests: list[dict] = []
        self.auth: list[str | None] = []
        self.fail_left = fail_first
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    owner.auth.append(self.headers.get("Authorization"))
                    owner.requests.append({"path": self.path, **body})
                    fail = owner.fail_left > 0
                    owner.fail_left -= 1
                if fail:
                    self.send_response(status)
                    self.end_headers()
                    return
                user = body["messages"][1]["content"]
                gt = user.split("-Ground truth feedback: ")[1].split("\n")[0]
                reply = {"good": "{'score': 5}", "bad": "I think 2.", "meh": "{'score': 3}"}[gt]
                payload = {"choices": [{"message": {"role": "assistant", "content": reply}}]}
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


ITEMS = [JudgeItem(f"s:{i}/0", gt, f"pred {i}") for i, gt in enumerate(["good", "bad", "meh"])]


def test_http_backend_scores_retries_and_caches(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("LIVEFIT_JUDGE_API_KEY", "sk-test")
    cache = tmp_path / "judge_cache.jsonl"
    with _FakeServer(fail_first=2) as server:
        cfg = JudgeConfig(
            url=server.url + "/v1", model="llama-3-70b", retries=3, concurrency=2, backoff_s=0.01
        )
        judge = HTTPJudge(cfg)
        cfg_fast = JudgeConfig(**{**cfg.__dict__, "timeout_s": 5.0})
        results = run_judge(ITEMS, judge, cfg_fast, cache)
        assert [r.score for r in results] == [5.0, None, 3.0]
        assert results[1].reply == "I think 2."
        ok = [r for r in server.requests if r["path"] == "/v1/chat/completions"]
        assert len(ok) == 5  # 3 pairs + 2 retried failures
        body = ok[-1]
        assert body["temperature"] == 0.6 and body["top_p"] == 0.9 and body["max_tokens"] == 64
        assert body["top_k"] == 50
        assert body["model"] == "llama-3-70b" and isinstance(body["seed"], int)
        assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
        assert server.auth == ["Bearer sk-test"] * 5
    # Resumed: every pair comes from the cache; no server is running any more.
    again = run_judge(ITEMS, judge, cfg_fast, cache)
    assert [r.reply for r in again] == [r.reply for r in results]
    assert len(cache.read_text().splitlines()) == 3


def test_interrupted_run_resumes_where_it_stopped(tmp_path):
    cache = tmp_path / "c.jsonl"
    cfg = JudgeConfig(url="http://unused", concurrency=1)

    class Flaky:
        name = "fake"

        def __init__(self, fail_at: int | None):
            self.calls, self.fail_at = 0, fail_at

        def complete(self, messages, seed):
            self.calls += 1
            if self.calls == self.fail_at:
                raise JudgeError("server went away")
            return "{'score': 4}"

    with pytest.raises(JudgeError, match=r"\(2 of 3 pairs judged; saved in .*c\.jsonl: rerun"):
        run_judge(ITEMS, Flaky(fail_at=3), cfg, cache)
    with open(cache, "a") as f:
        f.write('{"key": "trunc')  # a line cut short by the crash
    second = Flaky(fail_at=None)
    results = run_judge(ITEMS, second, cfg, cache)
    assert second.calls == 1 and [r.score for r in results] == [4.0, 4.0, 4.0]


def test_http_errors_are_clear():
    with _FakeServer(fail_first=10, status=404) as server:
        cfg = JudgeConfig(url=server.url, retries=1, backoff_s=0.01)
        with pytest.raises(JudgeError, match="HTTP 404"):
            HTTPJudge(cfg).complete(judge_messages("good", "x"), 0)
    with _FakeServer(fail_first=10, status=503) as server:
        cfg = JudgeConfig(url=server.url, retries=1, backoff_s=0.01)
        with pytest.raises(JudgeError, match="no answer after 2 tries"):
            HTTPJudge(cfg).complete(judge_messages("good", "x"), 0)


def test_evaluate_with_a_judge_server(tmp_path, wordnet):
    from qevd_fixture import FSpan, WorkoutSpec, write_split

    from livefit.eval.evaluate import EvalConfig, evaluate

    spans = [
        FSpan("First up are squats!", 0, 9, True, 0.0),
        FSpan("good", 20, 29),
        FSpan("bad", 40, 49),
        FSpan("meh", 60, 69),
        FSpan("Done!", 80, 89, True, 0.0),
    ]
    write_split(tmp_path, "test", [WorkoutSpec("long_range_videos/0001.mp4", spans, 100)])
    pred = tmp_path / "p.jsonl"
    fbs = [{"time": t, "text": x} for t, x in [(2.0, "fine"), (4.0, "poor"), (6.0, "ok")]]
    pred.write_text(json.dumps({"segment_id": "0001:0", "feedbacks": fbs}) + "\n")
    with _FakeServer() as server:
        cfg = EvalConfig(judge=JudgeConfig(url=server.url, model="judge"))
        ev = evaluate(tmp_path, pred, cfg, judge_cache=tmp_path / "out" / "judge_cache.jsonl")
    # (5 + 3) / (2 + 1e-12), the reference's mean: the unparsed reply is left out
    assert ev.metrics["llm_acc"] == pytest.approx(4.0, abs=1e-9)
    assert ev.counts["judge_unparsed"] == 1 and ev.counts["judge_parsed"] == 2


def test_transformers_backend_with_a_tiny_random_model(tmp_path):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from livefit.eval.judge import TransformersJudge

    # A byte-level tokenizer with no merges encodes any text with 256 + 2 ids.
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    vocab.update({"<s>": len(vocab), "</s>": len(vocab) + 1})
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    template = (
        "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>{% endfor %}"
        "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="</s>",
        chat_template=template,
    )
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        eos_token_id=None,  # generation runs to max_new_tokens
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path / "judge")
    tok.save_pretrained(tmp_path / "judge")

    cfg = JudgeConfig(model_path=str(tmp_path / "judge"), max_new_tokens=12)
    judge = TransformersJudge(cfg)
    msgs = judge_messages("Keep your back straight", "Back straight!")
    prompt = judge.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert prompt.startswith("<s>system\n" + SYSTEM_PROMPT) and prompt.endswith("<s>assistant\n")
    a, b = judge.complete(msgs, seed=1), judge.complete(msgs, seed=1)
    assert a == b  # a seed makes the sampled reply reproducible
    assert judge.generate_ids(msgs, seed=1).shape == (12,)
    results = run_judge(ITEMS[:2], judge, cfg)
    assert all(r.score == parse_score(r.reply) for r in results)


def test_transformers_backend_errors(tmp_path):
    from livefit.eval.judge import TransformersJudge

    with pytest.raises(JudgeError, match="judge model directory is missing"):
        TransformersJudge(JudgeConfig(model_path=str(tmp_path / "nowhere")))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(JudgeError, match="cannot load the judge model"):
        TransformersJudge(JudgeConfig(model_path=str(tmp_path)))


def test_judge_config_is_a_chat_config_with_the_paper_values():
    from livefit.chat import ChatConfig

    cfg = JudgeConfig()
    assert isinstance(cfg, ChatConfig) and not cfg.enabled
    assert (cfg.temperature, cfg.top_p, cfg.top_k, cfg.max_new_tokens) == (0.6, 0.9, 50, 64)
    assert (cfg.seed, cfg.concurrency, cfg.timeout_s, cfg.retries, cfg.backoff_s) == (
        0,
        4,
        120.0,
        4,
        1.0,
    )


def test_evaluate_has_one_option_per_judge_field():
    """``livefit evaluate`` builds its ``JudgeConfig`` from one ``--judge-*`` option per field,
    each shown in ``--help`` with its help text."""
    import re
    from dataclasses import fields

    from typer.testing import CliRunner

    from livefit.cli import app
    from livefit.eval.cli import judge_config, judge_option

    result = CliRunner().invoke(app, ["evaluate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.output)
    names = [f.name for f in fields(JudgeConfig)]
    assert len(names) == 12
    for name in names:
        option = "--" + judge_option(name).replace("_", "-")
        assert re.search(rf"{option}\s", text), f"{option} ({name}) is not in evaluate --help"
    assert "Seconds per HTTP request." in text and "Parallel HTTP requests." in text
    values = {f.name: f"value of {f.name}" for f in fields(JudgeConfig)}
    params = {judge_option(name): value for name, value in values.items()}
    assert judge_config({**params, "out": "x"}) == JudgeConfig(**values)  # type: ignore[arg-type]
