"""The one LLM client: chat completions from an OpenAI-compatible server or a local Hugging Face
causal LM, shared by the LLM-Acc judge (``livefit.eval.judge``) and the language-model baselines
(``livefit.baselines.socratic``).

Both backends have one interface, ``complete(messages, seed) -> reply`` (messages are
``[{"role": ..., "content": ...}]``):

- ``HTTPChat``: any ``/v1/chat/completions`` server (vLLM, llama.cpp's server, Ollama), stdlib
  only, with retries (exponential back-off on 408, 429, 5xx and network errors) and a timeout;
- ``TransformersChat``: a local model directory (``from_pretrained``, never a download), prompted
  with its chat template, or, for a base LM without one, with the messages' contents joined by a
  blank line.

A caller subclasses them to name its role in errors (``role``) and raise its own error type
(``error``, a ``ChatError``), as the judge does. Its settings dataclass subclasses
``ChatConfig`` (``JudgeConfig``, ``SocraticConfig``, ``TurnConfig``): the backends take it as it
is, and its saved JSON stays flat (the LM's fields beside the caller's own).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from livefit.model.hf_folder import SAFE_LOAD, open_folder


class ChatError(RuntimeError):
    """An LLM backend failed (bad URL or folder, HTTP error, no answer after the retries)."""


@dataclass(frozen=True)
class ChatConfig:
    """Where the LM is and how it samples: the fields every LLM client shares. The judge's
    ``JudgeConfig`` and the baselines' ``SocraticConfig`` and ``TurnConfig`` subclass it (a
    subclass may change a default, as ``max_new_tokens``, and adds its own fields after these)."""

    url: str | None = None  # OpenAI-compatible server, e.g. http://localhost:8000 (or .../v1)
    model: str | None = None  # the "model" field sent to the server
    model_path: str | None = None  # or: a local transformers model directory
    temperature: float = 0.6  # sampling temperature (0: greedy on the local backend)
    top_p: float = 0.9  # nucleus sampling threshold
    top_k: int | None = 50  # 0 or None: not used, not sent
    max_new_tokens: int = 64  # limit on the reply length
    # The caller's base seed: it derives each request's seed from it and passes that to
    # ``complete(messages, seed)`` (None: unseeded). The backends never read it.
    seed: int | None = 0
    timeout_s: float = 120.0  # per HTTP request
    retries: int = 4  # per request, with exponential back-off
    backoff_s: float = 1.0  # first wait before a retry; doubles each time (at most 30 s)


def split_target(target: str) -> dict[str, str | None]:
    """Where an LM spec points: ``http(s)://HOST[:PORT][/v1][#MODEL]`` -> ``{"url", "model"}``,
    an existing folder -> ``{"model_path"}``. ``ValueError`` says which of the two it is not. A
    target that went through ``pathlib.Path`` (a CLI option) lost a slash: ``http:/host`` is
    read as ``http://host``."""
    target = re.sub(r"^(https?):/(?=[^/])", r"\1://", target)
    if target.startswith(("http://", "https://")):
        url, _, model = target.partition("#")
        if not valid_url(url):
            raise ValueError(f"{url}: not an http(s)://HOST[:PORT][/v1] URL")
        return {"url": url, "model": model or None}
    if target and Path(target).is_dir():
        return {"model_path": target}
    raise ValueError(f"{target or '(empty)'}: is not a model folder (nor an http(s) URL)")


class ChatBackend(Protocol):
    name: str

    def complete(self, messages: list[dict[str, str]], seed: int | None) -> str: ...


def valid_url(url: str) -> bool:
    """An http(s) URL with a host: what the chat-completions backend can send requests to."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def completions_url(url: str) -> str:
    """``http://h:p``, ``.../v1`` or ``.../v1/chat/completions`` -> the chat-completions URL."""
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    return url + ("/chat/completions" if url.endswith("/v1") else "/v1/chat/completions")


class HTTPChat:
    """OpenAI-compatible chat completions over HTTP (stdlib only)."""

    role = "chat"  # how errors name this LM
    error: type[ChatError] = ChatError
    # A server that wants a key (OpenAI-style) gets the first of these that is set; it is never
    # written anywhere.
    key_env: tuple[str, ...] = ("LIVEFIT_CHAT_API_KEY", "OPENAI_API_KEY")

    def __init__(self, config: ChatConfig):
        if not config.url or not valid_url(config.url.rstrip("/")):
            raise self.error(f"{self.role} URL {config.url!r}: expected http://HOST[:PORT][/v1]")
        self.url = completions_url(config.url)
        self.config = config
        self.name = f"http:{self.url} model={config.model}"
        self.headers = {"Content-Type": "application/json"}
        key = next((os.environ[k] for k in self.key_env if os.environ.get(k)), None)
        if key:
            self.headers["Authorization"] = f"Bearer {key}"

    def complete(self, messages: list[dict[str, str]], seed: int | None) -> str:
        cfg = self.config
        body: dict[str, Any] = {
            "messages": messages,
            "temperature": cfg.temperature,
            "top_p": cfg.top_p,
            "max_tokens": cfg.max_new_tokens,
        }
        if cfg.top_k:
            body["top_k"] = cfg.top_k  # vLLM, llama.cpp and Ollama accept it
        if cfg.model:
            body["model"] = cfg.model
        if seed is not None:
            body["seed"] = seed
        data = json.dumps(body).encode()
        last: Exception | None = None
        for attempt in range(cfg.retries + 1):
            if attempt:
                time.sleep(min(cfg.backoff_s * 2.0 ** (attempt - 1), 30.0))
            request = urllib.request.Request(self.url, data=data, headers=self.headers)
            try:
                with urllib.request.urlopen(request, timeout=cfg.timeout_s) as response:
                    payload = json.loads(response.read())
                return str(payload["choices"][0]["message"]["content"] or "")
            except urllib.error.HTTPError as err:
                if err.code not in (408, 429) and err.code < 500:
                    detail = err.read()[:300].decode(errors="replace")
                    raise self.error(f"{self.url}: HTTP {err.code} ({detail})") from None
                last = err
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                last = err
            except (json.JSONDecodeError, KeyError, IndexError, TypeError) as err:
                raise self.error(f"{self.url}: not a chat-completions reply ({err})") from None
        raise self.error(f"{self.url}: no answer after {cfg.retries + 1} tries ({last})")


class TransformersChat:
    """A local causal LM directory (``from_pretrained``, no download)."""

    role = "chat"
    error: type[ChatError] = ChatError
    require_chat_template = False  # True: refuse a tokenizer without one (the judge does)

    def __init__(self, config: ChatConfig):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = config.model_path
        if not path or not Path(path).is_dir():
            raise self.error(f"{path}: {self.role} model directory is missing")
        try:
            self.tokenizer = open_folder(
                path, "tokenizer", lambda: AutoTokenizer.from_pretrained(path, **SAFE_LOAD)
            )
            # On GPUs, spread a large model over all of them (accelerate's device_map).
            placement = {"device_map": "auto"} if torch.cuda.is_available() else {}
            self.model = open_folder(
                path,
                "model",
                lambda: AutoModelForCausalLM.from_pretrained(
                    path, dtype="auto", **placement, **SAFE_LOAD
                ),
            )
        except (OSError, ValueError) as err:
            raise self.error(f"{path}: cannot load the {self.role} model ({err})") from None
        if self.require_chat_template and self.tokenizer.chat_template is None:
            raise self.error(f"{path}: the tokenizer has no chat template")
        self.device = self.model.device
        self.model.eval()
        self.eot = self.tokenizer.get_vocab().get("<|eot_id|>")
        self.config = config
        self.name = f"transformers:{path}"

    def complete(self, messages: list[dict[str, str]], seed: int | None) -> str:
        new = self.generate_ids(messages, seed)
        return self.tokenizer.decode(new, skip_special_tokens=True)

    def encode(self, messages: list[dict[str, str]]) -> Any:
        """The prompt as model inputs: the chat template, or the contents joined by a blank line
        for a base LM."""
        if self.tokenizer.chat_template is not None:
            return self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        text = "\n\n".join(m["content"] for m in messages)
        return self.tokenizer(text, return_tensors="pt")

    def generate_ids(self, messages: list[dict[str, str]], seed: int | None):
        """The sampled reply as token ids, (n_new,) with n_new <= max_new_tokens."""
        import torch

        cfg = self.config
        inputs = self.encode(messages).to(self.device)
        if seed is not None:
            torch.manual_seed(seed)
        pad = self.tokenizer.pad_token_id
        extra: dict[str, Any] = {}
        if self.eot is not None:  # Llama-3 chat models: stop at end-of-turn too, as the reference
            extra["eos_token_id"] = [self.tokenizer.eos_token_id, self.eot]
        if cfg.temperature and cfg.temperature > 0:
            extra.update(
                do_sample=True,
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                top_k=cfg.top_k or None,
            )
        else:
            extra.update(do_sample=False)
        with torch.no_grad():
            out = self.model.generate(
                **inputs,
                **extra,
                max_new_tokens=cfg.max_new_tokens,
                pad_token_id=pad if pad is not None else self.tokenizer.eos_token_id,
            )  # (1, prompt + new)
        return out[0, inputs["input_ids"].shape[1] :]


def make_chat(config: ChatConfig) -> ChatBackend:
    """The backend ``config`` names: its ``url`` or its ``model_path`` (not both)."""
    if config.url and config.model_path:
        raise ChatError("give either an LM URL or an LM model path, not both")
    if config.url:
        return HTTPChat(config)
    if config.model_path:
        return TransformersChat(config)
    raise ChatError("no LM configured (a URL or a model path)")


__all__ = [
    "ChatBackend",
    "ChatConfig",
    "ChatError",
    "HTTPChat",
    "TransformersChat",
    "completions_url",
    "make_chat",
    "split_target",
    "valid_url",
]
