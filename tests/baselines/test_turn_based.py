"""The turn-based vision-language baseline: the paper's E.3 prompt, the frames of each 5 s turn
(8 uniform from the last window, accumulated), JPEG data URLs, and ``predict``/``benchmark`` with
``turn:URL`` against a local stand-in OpenAI-compatible server on a generated QEVD-SIM workout."""

from __future__ import annotations

import base64
import functools
import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from chat_stand_in import StandInChat
from typer.testing import CliRunner

from livefit.baselines.turn_based import (
    TurnBasedCoach,
    TurnConfig,
    TurnSession,
    jpeg_data_url,
    parse_spec,
    sample_window,
    turn_messages,
    turn_prompt,
    window_frames,
)
from livefit.data.prompts import single_exercise_prompt

# Appendix E.3 of the paper, typed out from the PDF (line wrapping undone; "· · ·" are the slots,
# "X" the seconds).
PAPER_E3 = """You are an expert fitness coaching AI who coaches users as they exercise. You assess their performance, count repetitions, and proactively provide feedback. The user should be doing · · ·

This is what you’ve said so far over the last X seconds:
· · ·

Provide a SHORT ONE SENTENCE RESPONSE to the user based on what you see in the video. Take into account what you said before but DO NOT repeat it exactly. The response should be in second-person perspective. Ask them to correct any mistakes you see otherwise provide encouraging feedback."""  # noqa: E501


def test_the_prompt_is_the_papers_e3_text_exactly():
    said = ["Nice squats!", "Go a bit lower."]
    head, said_slot, tail = PAPER_E3.split("· · ·")
    expected = head + "squats." + said_slot.replace("X", "15") + "\n".join(said) + tail
    assert turn_prompt(single_exercise_prompt("squats"), 15.0, said) == expected
    first = turn_prompt(single_exercise_prompt("squats"), 5.0, [])
    assert "over the last 5 seconds:\nNone\n\nProvide" in first
    assert "over the last 12.5 seconds:" in turn_prompt("s", 12.5, [])
    (message,) = turn_messages(expected, ["data:image/jpeg;base64,AA", "data:image/jpeg;base64,B"])
    assert message["role"] == "user"
    assert message["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AA"}},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,B"}},
        {"type": "text", "text": expected},
    ]


def test_frame_sampling_uniform_in_the_last_window():
    assert sample_window(16, 8) == [1, 3, 5, 7, 9, 11, 13, 15]
    assert sample_window(150, 8) == [9, 28, 46, 65, 84, 103, 121, 140]
    assert sample_window(5, 8) == [0, 1, 2, 3, 4]  # fewer frames than asked: all
    assert sample_window(150, 1) == [149]  # InstructBLIP: the latest frame
    times = np.arange(1, 361) / 30.0  # 12 s at 30 fps, from the segment start
    latest = window_frames(times, 10.0, 5.0, 8)
    assert all(5.0 < times[i] <= 10.0 for i in latest) and len(latest) == 8
    assert np.allclose(np.diff(times[latest]), 5.0 / 8, atol=1 / 30)  # uniform in the window
    assert len(window_frames(times, 15.0, 5.0, 8)) == 8  # a part window: 8 of what there is
    assert window_frames(times, 20.0, 5.0, 8) == []  # the video ended: no frame


def _session(times, **config):
    coach = TurnBasedCoach(TurnConfig(url="http://unused", **config), lm=SimpleNamespace(name="x"))
    return TurnSession(coach, times=times)


def test_accumulation_keeps_the_earlier_windows_frames():
    times = np.arange(1, 451) / 30.0  # 15 s at 30 fps
    acc, latest = _session(times), _session(times, accumulate=False)
    w1, w2 = (window_frames(times, b, 5.0, 8) for b in (5.0, 10.0))
    assert acc.frames_at(5.0) == latest.frames_at(5.0) == w1
    assert acc.frames_at(10.0) == w1 + w2 and latest.frames_at(10.0) == w2
    assert len(acc.frames_at(15.0)) == 24
    assert len(_session(times, frames_per_window=20).frames_at(10.0)) == 40  # Video-ChatGPT
    with pytest.raises(ValueError, match="frames_per_window"):
        _session(times, frames_per_window=0)


def test_jpeg_frames_are_downscaled_to_336_on_the_long_side():
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[:, :, 0] = 255  # red
    url = jpeg_data_url(rgb)
    assert url.startswith("data:image/jpeg;base64,")
    bgr = cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), 1)
    assert bgr.shape == (252, 336, 3) and bgr[..., 2].mean() > 240 and bgr[..., 0].mean() < 15
    small = cv2.imdecode(
        np.frombuffer(base64.b64decode(jpeg_data_url(rgb[:100, :50]).split(",", 1)[1]), np.uint8), 1
    )
    assert small.shape == (100, 50, 3)  # never upscaled


def test_specs(tmp_path):
    assert parse_spec(f"turn:{tmp_path}") == TurnConfig(model_path=str(tmp_path))  # a local model
    assert parse_spec("turn:http://127.0.0.1:8000/v1#llava") == TurnConfig(
        url="http://127.0.0.1:8000/v1", model="llava"
    )
    assert parse_spec(str(Path("turn:http://h:1/v1"))).url == "http://h:1/v1"  # CLI Path
    for bad in ("turn:", "turn:/some/folder", "turn:ftp://h"):
        with pytest.raises(ValueError, match="expected turn:http"):
            parse_spec(bad)


REPLY = "Keep your back straight, nice pace! You are doing well."


def StandIn() -> StandInChat:  # noqa: N802
    """A local OpenAI-compatible chat server that answers with a fixed coaching reply."""
    return StandInChat(lambda body: REPLY, "/v1")


@pytest.fixture(scope="module")
def workout(sim_workout_root, tmp_path_factory):
    """A copy of the session's tiny QEVD-SIM test workout (real video; tests/conftest.py) with
    placeholder feature files: the coach only counts feature steps (its clock), so zeros at 4
    steps/s stand in for the CNN's features (``run_extraction`` would cost ~8 s on 2 cores)."""
    import shutil

    from livefit.data.qevd import load_workouts

    root = shutil.copytree(sim_workout_root, tmp_path_factory.mktemp("sim") / "root")
    for w in load_workouts(root, "test"):
        w.features.parent.mkdir(parents=True, exist_ok=True)
        times = np.arange(w.frame_times[0], w.frame_times[-1], 0.25)
        np.save(w.features, np.zeros((len(times), 8, 1, 1), np.float32))
        np.save(w.feature_timestamps, times)
    return root


def test_predict_sends_frames_and_the_prompt_every_five_seconds(workout, tmp_path):
    from livefit.data.qevd import load_segments
    from livefit.stream.predict import predict
    from livefit.vision.preprocess import load_timestamps

    segments = load_segments(workout, "test", "single_exercise")
    with StandIn() as server:
        spec = f"turn:{server.url}#llava-next-video"
        summary = predict(workout, spec, tmp_path / "p.jsonl", progress=False)
    lines = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [r["segment_id"] for r in lines] == [s.segment_id for s in segments]
    assert summary["new_feedbacks"] == len(server.requests) > 0
    k = 0
    for seg, record in zip(segments, lines, strict=True):
        n_steps = len(seg.load_features()[0]) - 1  # the paper clock feeds all steps but one
        marks = [5.0 * m for m in range(1, int((n_steps - 1) / 4 // 5) + 1)]
        assert record["feedbacks"] == [
            {"time": t, "text": "Keep your back straight, nice pace!"} for t in marks
        ]
        said: list[str] = []
        for m, t in enumerate(marks, start=1):
            body, path = server.requests[k], server.paths[k]
            k += 1
            assert path == "/v1/chat/completions" and body["model"] == "llava-next-video"
            assert body["max_tokens"] == 48 and body["seed"] == m
            (message,) = body["messages"]
            *images, text = message["content"]
            assert text == {
                "type": "text",
                "text": turn_prompt(single_exercise_prompt(seg.exercise), t, said),
            }
            assert len(images) == 8 * m  # 8 per window, accumulated
            for part in images[-8:]:
                assert part["type"] == "image_url"
                jpeg = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), 1)
                assert max(frame.shape[:2]) <= 336 and frame.std() > 0  # a real picture
            said.append("Keep your back straight, nice pace!")
    # The second segment (its first window overlaps the first segment's end, read from the
    # decoder kept between segments) got the right frames: as a fresh decoder sees them.
    seg = segments[1]
    stamps = load_timestamps(seg.video_timestamps)
    inside = np.flatnonzero((stamps > seg.start) & (stamps <= seg.end))
    frames = inside[window_frames(stamps[inside] - seg.start, 5.0, 5.0, 8)]
    fresh = TurnBasedCoach(TurnConfig(url="http://unused"), lm=SimpleNamespace(name="x"))
    expected = fresh.video_frames(seg, [int(i) for i in frames])
    first_of_second = server.requests[len(lines[0]["feedbacks"])]["messages"][0]["content"]
    assert [p["image_url"]["url"] for p in first_of_second[:-1]] == list(expected.values())
    settings = json.loads((tmp_path / "p.jsonl.config.json").read_text())["model"]
    assert settings["coach"] == "turn" and settings["frames_per_window"] == 8
    assert settings["accumulate"] is True and settings["lm"].startswith("http:")


def test_cli_predict_benchmark_and_errors(workout, tmp_path, monkeypatch):
    import livefit.chat
    from livefit.cli import app

    run = ["predict", "--data", str(workout), "--limit", "1", "--model"]
    with StandIn() as server:
        spec = f"turn:{server.url}"
        result = CliRunner().invoke(
            app, [*run[:-1], "--out", str(tmp_path / "c.jsonl"), "--model", spec]
        )
        assert result.exit_code == 0, result.output
        (line,) = (tmp_path / "c.jsonl").read_text().splitlines()
        assert [f["time"] for f in json.loads(line)["feedbacks"]][:2] == [5.0, 10.0]
        out = tmp_path / "bench"
        args = [
            "benchmark",
            "--data",
            str(workout),
            "--out",
            str(out),
            "--no-progress",
            "--models",
            f"periodic,{spec}",
        ]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        host = server.url.split("//")[1].split("/")[0].replace(":", "_")
        assert (out / "predictions" / f"turn-{host}.jsonl").is_file()
    out = ["--out", str(tmp_path / "q.jsonl")]
    bad = CliRunner().invoke(app, [*run[:-1], *out, "--model", "turn:/nowhere"])
    assert bad.exit_code == 2 and bad.output.count("error:") == 1 and "turn:http" in bad.output
    monkeypatch.setattr(livefit.chat, "time", SimpleNamespace(sleep=lambda s: None))  # retries
    gone = CliRunner().invoke(app, [*run[:-1], *out, "--model", spec])  # the server has stopped
    assert gone.exit_code == 2 and gone.output.count("error:") == 1, gone.output
    assert "Connection refused" in gone.output and "turn-based model" in gone.output


def _tiny_llava(path):
    """A tiny random LLaVA (CLIP vision tower 32 px, 16 px patches: 4 image tokens an image;
    one-layer Llama) with a byte-level tokenizer built offline, a ``<image>`` token, a CLIP image
    processor at 32 px and a chat template, saved as one image-text-to-text folder."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    for special in ("<|endoftext|>", "<image>"):
        vocab[special] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    template = (
        "{% for m in messages %}{{ m['role'] | upper }}: {% for p in m['content'] %}"
        "{% if p['type'] == 'image' %}<image>{% else %}{{ p['text'] }}{% endif %}{% endfor %} "
        "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ),
        tokenizer=tok,
        patch_size=16,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=template,
    )
    vision = CLIPVisionConfig(
        image_size=32,
        patch_size=16,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        projection_dim=32,
    )
    text = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=vocab["<|endoftext|>"],
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=vocab["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(path)
    processor.save_pretrained(path)
    return path


def test_local_hugging_face_image_text_model(workout, tmp_path, monkeypatch):
    from transformers import LlavaModel

    from livefit.baselines.turn_based import ImageTextChat
    from livefit.data.qevd import load_segments
    from livefit.stream.predict import predict

    folder = _tiny_llava(tmp_path / "llava")
    pixels: list[tuple[int, ...]] = []  # pixel_values shapes the vision tower got
    encode_images = LlavaModel.get_image_features

    @functools.wraps(encode_images)
    def spy(self, *args, **kwargs):
        pixels.append(tuple(kwargs.get("pixel_values", args[0] if args else None).shape))
        return encode_images(self, *args, **kwargs)

    monkeypatch.setattr(LlavaModel, "get_image_features", spy)
    segments = load_segments(workout, "test", "single_exercise")
    runs = []
    for name in ("a", "b"):  # the same seeds twice: the same feedbacks
        predict(workout, f"turn:{folder}", tmp_path / f"{name}.jsonl", progress=False)
        runs.append([json.loads(x) for x in (tmp_path / f"{name}.jsonl").read_text().splitlines()])
    assert runs[0] == runs[1]
    sizes = []
    for seg, record in zip(segments, runs[0], strict=True):
        n_steps = len(seg.load_features()[0]) - 1
        marks = [5.0 * m for m in range(1, int((n_steps - 1) / 4 // 5) + 1)]
        assert [f["time"] for f in record["feedbacks"]] == marks and marks
        assert all(f["text"].strip() for f in record["feedbacks"])  # random weights: any text
        sizes += [8 * m for m in range(1, len(marks) + 1)]  # 8 frames a window, accumulated
    # Each prompt's frames reached the model as processed images (32 px, the processor's size).
    assert pixels == [(n, 3, 32, 32) for n in sizes] * 2
    settings = json.loads((tmp_path / "a.jsonl.config.json").read_text())["model"]
    assert settings["model_path"] == str(folder) and settings["lm"].startswith("transformers")
    # The session's message carries RGB frames (downscaled, never JPEG) then the E.3 prompt.
    coach = TurnBasedCoach.from_spec(f"turn:{folder}")
    assert isinstance(coach.lm, ImageTextChat)
    session = coach.start(single_exercise_prompt(segments[0].exercise), segment=segments[0])
    for _ in range(21):
        list(session.push(None))
    (prompt,) = session.prompts
    image = session.images[session.sent[0][0]]
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8 and max(image.shape) <= 336
    inputs = coach.lm.encode(turn_messages(prompt, [session.images[i] for i in session.sent[0]]))
    text = coach.lm.processor.decode(inputs["input_ids"][0])
    assert text == "USER: " + "<image>" * 4 * 8 + prompt + " ASSISTANT:"
    greedy = TurnBasedCoach(TurnConfig(model_path=str(folder), temperature=0.0, max_new_tokens=5))
    ids = greedy.lm.generate_ids(turn_messages("hi", [image]), seed=None)
    assert 0 < len(ids) <= 5
