"""The Socratic baseline: the paper's E.2 prompt, the activity lines, the 5 s turns, both LM
backends (a local stand-in server, a tiny random GPT-2) and ``predict``/``benchmark`` specs."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from chat_stand_in import StandInChat
from qevd_fixture import write_quirk_tree
from typer.testing import CliRunner

from livefit.baselines.socratic import (
    SocraticCoach,
    SocraticConfig,
    describe,
    exercise_in,
    first_sentence,
    parse_spec,
    socratic_messages,
    socratic_prompt,
)
from livefit.data.prompts import single_exercise_prompt
from livefit.vision.activity import ActivityHead

# Appendix E.2 of the paper, typed out from the PDF (line wrapping undone; "· · ·" are the
# slots); the example's activity lines one per line.
PAPER_E2 = """You are an expert fitness coaching AI who coaches users as they exercise. You assess their performance, count repetitions, and proactively provide feedback. The user should be doing · · ·

Provide a SHORT ONE SENTENCE RESPONSE to the user based on based on the activity from the last 5 seconds shown below. Take into account what you said before but DO NOT repeat it exactly. The response should be in second-person perspective. Ask them to correct any mistakes you see otherwise provide encouraging feedback.

For example:
User activity:
Timestep: 0.55 – The user is doing the exercise.
Timestep: 1.55 – The user is doing the exercise.
Timestep: 2.45 – The user was fast.
Timestep: 3.45 – The user was fast.
Timestep: 4.62 – The user was fast.
Timestep: 5.42 – The user has good form.

Response: Woah, great speed there!

Previous user activity:
· · ·

This is what you’ve said so far for the previous activity:
· · ·

Latest user activity:
· · ·

Response: · · ·"""  # noqa: E501

LABELS = [
    "squats - good form",
    "squats - slow",
    "squats - fast",
    "squats - shallow",
    "quad stretch - left leg",
    "push-ups - good form",
    "general - catching breath",
]


def test_the_prompt_is_the_papers_e2_text_exactly():
    system = single_exercise_prompt("squats")
    previous = ["Timestep: 0.75 – The user has good form."]
    said = ["Nice squats!", "Keep going."]
    latest = ["Timestep: 5.75 – The user was slow.", "Timestep: 6.75 – The user was fast."]
    slots = iter(["squats.", "\n".join(previous), "\n".join(said), "\n".join(latest)])
    parts = PAPER_E2.removesuffix(" · · ·").split("· · ·")
    expected = parts[0] + "".join(next(slots) + part for part in parts[1:])
    assert socratic_prompt(system, previous, said, latest) == expected
    messages = socratic_messages(system, previous, said, latest)
    assert messages[0] == {"role": "system", "content": system}
    assert "\n\n".join(m["content"] for m in messages) == expected
    empty = socratic_prompt(system, [], [], latest)  # nothing before: "None"
    assert "Previous user activity:\nNone\n\n" in empty
    assert "so far for the previous activity:\nNone\n\n" in empty


def _onehot(name: str, p: float = 0.9) -> list[float]:
    rest = (1 - p) / (len(LABELS) - 1)
    return [p if label == name else rest for label in LABELS]


@pytest.mark.parametrize(
    ("probs", "exercise", "text"),
    [
        (_onehot("squats - good form"), "squats", "The user has good form."),
        (_onehot("squats - fast"), "squats", "The user was fast."),
        (_onehot("squats - slow"), None, "The user was slow."),
        (_onehot("squats - shallow"), "squats", "The user has a form mistake: shallow."),
        (
            _onehot("quad stretch - left leg"),
            "quad stretch",
            "The user is doing the exercise with the left leg.",
        ),
        (_onehot("push-ups - good form"), "squats", "The user is doing push-ups instead."),
        (_onehot("push-ups - good form"), "burpees", "The user has good form."),  # not known
        (
            _onehot("general - catching breath"),
            "squats",
            "The user is not doing the exercise (catching breath).",
        ),
        ([0.3, 0.25, 0.2, 0.2, 0.0, 0.05, 0.0], "squats", "The user is doing the exercise."),
    ],
)
def test_activity_lines_from_class_probabilities(probs, exercise, text):
    assert describe(probs, LABELS, exercise) == text


def test_first_sentence_and_exercise():
    assert first_sentence("  Great depth! Keep it up.") == "Great depth!"
    assert first_sentence('\nResponse: "Go lower, please." more') == "Go lower, please."
    assert first_sentence("Keep your back 2.5 inches higher") == "Keep your back 2.5 inches higher"
    assert first_sentence("   \n ") == ""
    assert exercise_in(single_exercise_prompt("push-ups")) == "push-ups"
    assert exercise_in("Coach me.") is None


class ScriptedLM:
    name = "scripted"

    def __init__(self):
        self.calls = []

    def complete(self, messages, seed):
        self.calls.append((messages, seed))
        return f"Reply number {len(self.calls)}. Extra words."


def _head(channels: int = 8) -> ActivityHead:
    head = ActivityHead(channels, LABELS)
    with torch.no_grad():  # channel j votes for class j: one-hot features pick the class
        head.linear.weight.zero_()
        head.linear.bias.zero_()
        for j in range(len(LABELS)):
            head.linear.weight[j, j] = 10.0
    return head.eval()


def _step(cls: int, channels: int = 8) -> torch.Tensor:
    step = torch.zeros(channels, 2, 2)
    step[cls] = 1.0
    return step


def test_every_five_seconds_the_lm_sees_the_activity_and_what_it_said():
    lm = ScriptedLM()
    coach = SocraticCoach(SocraticConfig(url="http://unused"), lm=lm, head=_head())
    # 4 steps/s: 5 s of good form, then 5 s too fast, then a part second.
    classes = [0] * 20 + [2] * 20 + [3] * 3
    with coach.start(single_exercise_prompt("squats"), total_steps=len(classes)) as session:
        events = [e for c in classes for e in session.push(_step(c))]
    assert [(e.time, e.kind, e.text) for e in events] == [
        (5.0, "feedback", "Reply number 1."),
        (10.0, "feedback", "Reply number 2."),
    ]
    assert session.feedbacks == [(5.0, "Reply number 1."), (10.0, "Reply number 2.")]
    assert len(session.activity) == 10  # one line per full second seen by the last prompt
    first, second = (msgs for msgs, _ in lm.calls)
    assert [seed for _, seed in lm.calls] == [1, 2]
    latest = "\n".join(f"Timestep: {k + 0.75:.2f} – The user has good form." for k in range(5))
    assert first[0]["content"] == single_exercise_prompt("squats")
    assert first[1]["content"].endswith(
        f"Previous user activity:\nNone\n\nThis is what you’ve said so far for the previous "
        f"activity:\nNone\n\nLatest user activity:\n{latest}\n\nResponse:"
    )
    fast = "\n".join(f"Timestep: {k + 0.75:.2f} – The user was fast." for k in range(5, 10))
    assert second[1]["content"].endswith(
        f"Previous user activity:\n{latest}\n\nThis is what you’ve said so far for the previous "
        f"activity:\nReply number 1.\n\nLatest user activity:\n{fast}\n\nResponse:"
    )
    assert session.prompts[1] == "\n\n".join(m["content"] for m in second)


def test_wall_clock_times_and_feature_checks():
    lm = ScriptedLM()
    coach = SocraticCoach(SocraticConfig(url="http://unused"), lm=lm, head=_head())
    with coach.start(single_exercise_prompt("squats"), t0=0.0) as session:
        for t in [0.1, 0.6, 1.2, 2.9, 4.4, 5.3, 11.0]:  # 11.0 crosses the 10 s turn too
            list(session.push(_step(1), t=t))
    # The 10 s prompt only has the 5.3 s window, closed when the 11.0 s step came.
    assert [t for t, _ in session.feedbacks] == [5.0, 10.0]
    with pytest.raises(ValueError, match=r"does not fit the activity head"):
        list(coach.start("x").push(torch.zeros(3, 2, 2)))


def test_specs():
    assert parse_spec("socratic:http://127.0.0.1:8000/v1#llama-2-7b") == SocraticConfig(
        url="http://127.0.0.1:8000/v1", model="llama-2-7b"
    )
    assert parse_spec(str(Path("socratic:http://h:1/v1"))).url == "http://h:1/v1"  # CLI Path
    with pytest.raises(ValueError, match="not a model folder"):
        parse_spec("socratic:/no/such/folder")
    with pytest.raises(ValueError, match="expected socratic:"):
        parse_spec("socratic:")


def test_spec_options(tmp_path):
    cfg = parse_spec(f"socratic:http://h:1/v1#m?cnn={tmp_path}&temperature=0&max_new_tokens=20")
    assert (cfg.url, cfg.model, cfg.cnn, cfg.temperature, cfg.max_new_tokens) == (
        "http://h:1/v1",
        "m",
        str(tmp_path),
        0.0,
        20,
    )
    assert parse_spec(f"socratic:{tmp_path}?seed=3") == SocraticConfig(
        model_path=str(tmp_path), seed=3
    )
    with pytest.raises(ValueError, match="unknown option 'colour'"):
        parse_spec("socratic:http://h:1/v1?colour=red")
    with pytest.raises(ValueError, match="seed must be an integer"):
        parse_spec("socratic:http://h:1/v1?seed=x")
    with pytest.raises(ValueError, match="cnn: /no/such is not a folder"):
        parse_spec("socratic:http://h:1/v1?cnn=/no/such")
    with pytest.raises(ValueError, match="key=value"):
        parse_spec("socratic:http://h:1/v1?cnn")


def StandIn() -> StandInChat:  # noqa: N802
    """A local OpenAI-compatible chat server that answers with a fixed coaching reply."""
    return StandInChat(lambda body: "Great squats, keep your chest up! You are doing well.", "/v1")


def test_endpoint_backend_with_the_bundled_cnn_head():
    torch.manual_seed(0)
    with StandIn() as server:
        coach = SocraticCoach.from_spec(f"socratic:{server.url}#llama-2-7b-chat")
        with coach.start(single_exercise_prompt("squats")) as session:
            for _ in range(24):
                list(session.push(torch.rand(128, 4, 3)))
    assert session.feedbacks == [(5.0, "Great squats, keep your chest up!")]
    (body,) = server.requests
    assert server.paths == ["/v1/chat/completions"] and body["model"] == "llama-2-7b-chat"
    assert body["temperature"] == 0.6 and body["top_p"] == 0.9 and body["max_tokens"] == 48
    assert "\n\n".join(m["content"] for m in body["messages"]) == session.prompts[0]
    assert session.prompts[0].count("\nTimestep: ") == 6 + 5  # the example's 6, then 5 seconds
    settings = coach.settings()
    assert settings["coach"] == "socratic" and settings["lm"].startswith("http:")


def _tiny_gpt2(path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    # A byte-level tokenizer with no merges encodes any text (the en dash, "’") with 256 ids.
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    vocab["<|endoftext|>"] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=4096,
        n_embd=16,
        n_layer=1,
        n_head=2,
        eos_token_id=None,
        bos_token_id=None,
    )
    GPT2LMHeadModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_local_hugging_face_backend_with_a_tiny_random_gpt2(tmp_path):
    folder = _tiny_gpt2(tmp_path / "gpt2")
    coach = SocraticCoach.from_spec(f"socratic:{folder}")
    assert coach.lm.tokenizer.chat_template is None  # a base LM: reads the prompt as one text
    with coach.start(single_exercise_prompt("squats")) as session:
        for _ in range(21):
            list(session.push(torch.rand(128, 4, 3)))
    (prompt,) = session.prompts
    messages = socratic_messages(
        session.system,
        [],
        [],
        prompt.split("Latest user activity:\n")[1].removesuffix("\n\nResponse:").split("\n"),
    )
    inputs = coach.lm.encode(messages)
    assert coach.lm.tokenizer.decode(inputs["input_ids"][0]) == prompt
    ids = coach.lm.generate_ids(messages, seed=1)
    assert 0 < len(ids) <= 48
    reply = coach.lm.complete(messages, seed=1)  # what the session got: same seed
    assert first_sentence(reply) and session.feedbacks == [(5.0, first_sentence(reply))]


def test_predict_and_benchmark_take_socratic_specs(tmp_path, monkeypatch):
    import livefit.chat
    from livefit.cli import app
    from livefit.stream.predict import predict

    root = write_quirk_tree(tmp_path / "qevd", feature_shape=(128, 4, 3))
    with StandIn() as server:
        spec = f"socratic:{server.url}"
        summary = predict(root, spec, tmp_path / "p.jsonl", progress=False)
        assert summary["new_feedbacks"] > 0 and len(server.requests) == summary["new_feedbacks"]
        settings = json.loads((tmp_path / "p.jsonl.config.json").read_text())
        assert settings["model"]["coach"] == "socratic" and settings["model"]["url"] == server.url
        lines = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
        texts = {f["text"] for line in lines for f in line["feedbacks"]}
        assert texts == {"Great squats, keep your chest up!"}
        cli = ["predict", "--data", str(root), "--out", str(tmp_path / "c.jsonl"), "--model"]
        result = CliRunner().invoke(app, [*cli, spec])
        assert result.exit_code == 0, result.output
        assert (tmp_path / "c.jsonl").read_text() == (tmp_path / "p.jsonl").read_text()
        out = tmp_path / "bench"
        args = [
            "benchmark",
            "--data",
            str(root),
            "--out",
            str(out),
            "--no-progress",
            "--models",
            f"silent,{spec}",
        ]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        host = server.url.split("//")[1].split("/")[0].replace(":", "_")
        assert (out / "predictions" / f"socratic-{host}.jsonl").is_file()
    run = ["predict", "--data", str(root), "--out", str(tmp_path / "q.jsonl"), "--model"]
    bad = CliRunner().invoke(app, [*run, "socratic:/nowhere"])
    assert bad.exit_code == 2 and "error:" in bad.output and "not a model folder" in bad.output
    monkeypatch.setattr(livefit.chat, "time", SimpleNamespace(sleep=lambda s: None))  # retries
    gone = CliRunner().invoke(app, [*run, spec])  # the server has stopped: one error line
    assert "Connection refused" in gone.output
    assert gone.exit_code == 2 and "error: " in gone.output and "socratic LM" in gone.output
