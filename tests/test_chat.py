"""The shared LLM client (``livefit.chat``): the HTTP backend against a local stand-in server
(body, key, retries, errors) and the local backend's prompt for a base LM."""

from __future__ import annotations

import pytest
from chat_stand_in import StandInChat

from livefit.chat import ChatConfig, ChatError, HTTPChat, completions_url, make_chat


def _Server(fail_first: int = 0, status: int = 503) -> StandInChat:  # noqa: N802
    """A stand-in chat server whose first ``fail_first`` requests fail with ``status``."""
    replies = iter([status] * fail_first)
    return StandInChat(lambda body: next(replies, "Hi."))


def test_urls():
    assert completions_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert completions_url("http://h/v1/chat/completions") == "http://h/v1/chat/completions"
    with pytest.raises(ChatError, match="expected http"):
        HTTPChat(ChatConfig(url="localhost:8000"))
    with pytest.raises(ChatError, match="not both"):
        make_chat(ChatConfig(url="http://h", model_path="/x"))
    with pytest.raises(ChatError, match="no LM configured"):
        make_chat(ChatConfig())
    with pytest.raises(ChatError, match="chat model directory is missing"):
        make_chat(ChatConfig(model_path="/no/such/dir"))


def test_http_chat_sends_the_sampling_settings_and_retries(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("LIVEFIT_CHAT_API_KEY", "sk-chat")
    messages = [{"role": "user", "content": "Coach me."}]
    with _Server(fail_first=1) as server:
        chat = make_chat(ChatConfig(url=server.url, model="m", top_k=None, backoff_s=0.01))
        assert chat.complete(messages, seed=7) == "Hi."
    assert len(server.requests) == 2  # one 503, then the answer
    assert server.requests[-1] == {
        "messages": messages,
        "temperature": 0.6,
        "top_p": 0.9,
        "max_tokens": 64,
        "model": "m",
        "seed": 7,
    }
    assert server.auth[-1] == "Bearer sk-chat"
    with _Server(fail_first=9, status=400) as server:
        with pytest.raises(ChatError, match="HTTP 400"):
            HTTPChat(ChatConfig(url=server.url, backoff_s=0.01)).complete(messages, None)


def test_every_llm_client_config_is_a_chat_config(monkeypatch):
    """The judge's and the baselines' settings subclass ``ChatConfig`` (no copied fields): the
    backends take them as they are, and each keeps its flat saved layout."""
    from dataclasses import asdict, fields

    from livefit.baselines.socratic import SocraticConfig
    from livefit.baselines.turn_based import TurnConfig
    from livefit.eval.judge import JudgeConfig

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("LIVEFIT_CHAT_API_KEY", raising=False)
    shared = [f.name for f in fields(ChatConfig)]
    for cls, own in (
        (JudgeConfig, {"concurrency"}),
        (SocraticConfig, {"cnn", "every_s", "window_s", "steps_per_second", "min_confidence"}),
        (
            TurnConfig,
            {
                "every_s",
                "frames_per_window",
                "accumulate",
                "max_side",
                "jpeg_quality",
                "steps_per_second",
            },
        ),
    ):
        assert issubclass(cls, ChatConfig)
        names = [f.name for f in fields(cls)]
        assert names[: len(shared)] == shared and set(names[len(shared) :]) == own
        assert set(asdict(cls())) == set(shared) | own  # flat: no nested "chat" object
    assert SocraticConfig().max_new_tokens == TurnConfig().max_new_tokens == 48  # one sentence
    messages = [{"role": "user", "content": "Coach me."}]
    with _Server() as server:
        chat = make_chat(SocraticConfig(url=server.url, temperature=0.0, top_k=0))
        assert chat.complete(messages, seed=3) == "Hi."
    assert server.requests[-1] == {
        "messages": messages,
        "temperature": 0.0,
        "top_p": 0.9,
        "max_tokens": 48,
        "seed": 3,
    }
