"""LLM-Acc: an instruction-tuned judge LLM scores each matched (ground truth, prediction) pair
from 1 to 5, with the paper's exact prompts (shared/spec/evaluation-protocol.md section 4).

Sits beside the text metrics: matched pairs -> judge replies -> ``parse_score`` -> mean over the
parsed replies (unparsed ones are counted and left out). Two backends share one interface
(``complete(messages, seed) -> reply``): any OpenAI-compatible ``/v1/chat/completions`` server
(vLLM, llama.cpp's server, Ollama) and a local transformers model directory, both from the
shared LLM client ``livefit.chat`` (the judge's subclasses only name it in errors). Replies are
appended to a JSONL cache as they arrive, keyed by the pair and every judge setting, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from livefit.chat import (
    ChatBackend,
    ChatConfig,
    ChatError,
    HTTPChat,
    TransformersChat,
    valid_url,  # noqa: F401  (re-exported: the CLI imports it from here)
)

# Verbatim, including "the the" and the missing spaces after "accuracy." and "STRING.".
SYSTEM_PROMPT = (
    "You are an intelligent chatbot designed for evaluating feedbacks provided by a virtual "
    "fitness coach to a person. You always provide your responses as a python dictionary "
    "string.\nYour task is to compare the accuracy of the the predicted feedback with the ground "
    "truth feedback. Here is how you can accomplish this:\n-The predicted feedback must be "
    "factually accurate, relevant and align with the ground truth feedback.\n-Consider synonyms "
    "or paraphrases as valid matches.\n-Take into account repetition counts that can expressed "
    "both in numeric form or in words."
)
USER_PROMPT = (
    "Please evaluate the following predicted feedback:\n-Ground truth feedback: {GT}\n"
    "-Predicted feedback: {PRED}\n\nProvide your evaluation as a python dictionary string with "
    "the accuracy score where the score is an integer value between 1 and 5, with 5 indicating "
    "the highest level of accuracy.Generate the response only in the form of a Python dictionary "
    "string with keys 'score', where its value is the accuracy score in INTEGER, not STRING.For "
    "example, your response should look like this: {'score': int(score)}.DO NOT PROVIDE ANY "
    "OTHER OUTPUT TEXT OR EXPLANATION."
)
_BRACES = re.compile(r"\{(.*?)\}")  # non-greedy, default flags (a "." does not cross lines)


class JudgeError(ChatError):
    """The judge backend failed (after retries); finished pairs stay in the cache."""


@dataclass(frozen=True)
class JudgeConfig(ChatConfig):
    """How LLM-Acc is computed: the judge LM (``ChatConfig``'s fields) and how many pairs go to
    it at once. Paper: Llama-3-70B-Instruct (8 bit), temperature 0.6, top-p 0.9, 64 new tokens
    (``ChatConfig``'s defaults). The reference judge script sets no top_k, so transformers 4.x
    applied its default of 50: sent explicitly for parity. ``seed`` is the base seed: each pair
    samples with a seed derived from it and the pair; ``retries`` are per pair, before the run
    stops."""

    concurrency: int = 4  # parallel requests to the server

    @property
    def enabled(self) -> bool:
        return bool(self.url or self.model_path)


def judge_messages(gt: str, pred: str) -> list[dict[str, str]]:
    """The chat the judge sees: system, then user (the generation prompt follows)."""
    # str.replace, not str.format: the user prompt itself contains braces.
    user = USER_PROMPT.replace("{GT}", gt).replace("{PRED}", pred)
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def parse_score(reply: str) -> float | None:
    """The judge's score, or None when unparsed (no or several ``{...}``, bad literal, no score).

    Exactly one non-greedy ``{...}`` -> ``ast.literal_eval("{" + inside + "}")["score"]`` as a
    float. A literal parser only, never ``eval``; a non-finite score also counts as unparsed.
    """
    found = _BRACES.findall(reply)
    if len(found) != 1:
        return None
    try:
        value = ast.literal_eval("{" + found[0] + "}")
        score = float(value["score"])
    except Exception:  # literal_eval raises ValueError/SyntaxError/TypeError/RecursionError...
        return None
    return score if math.isfinite(score) else None


JudgeBackend = ChatBackend  # ``complete(messages, seed) -> reply``


class HTTPJudge(HTTPChat):
    """OpenAI-compatible chat completions over HTTP (``livefit.chat.HTTPChat``)."""

    role = "judge"
    error = JudgeError
    key_env = ("LIVEFIT_JUDGE_API_KEY", "OPENAI_API_KEY")


class TransformersJudge(TransformersChat):
    """A local causal LM directory (``from_pretrained``, no download) with its chat template."""

    role = "judge"
    error = JudgeError
    require_chat_template = True


def make_backend(config: JudgeConfig) -> JudgeBackend:
    if config.url and config.model_path:
        raise JudgeError("give either a judge URL or a judge model path, not both")
    if config.url:
        return HTTPJudge(config)
    if config.model_path:
        return TransformersJudge(config)
    raise JudgeError("no judge configured (--judge-url or --judge-model-path)")


@dataclass(frozen=True)
class JudgeItem:
    """One pair to judge; ``uid`` names it within the run (segment id and indices)."""

    uid: str
    gt: str
    pred: str


@dataclass(frozen=True)
class JudgeResult:
    reply: str
    score: float | None  # None: unparsed


def item_key(item: JudgeItem, backend_name: str, config: JudgeConfig) -> str:
    """Cache key: the pair and everything that can change the judge's reply."""
    ident = {
        "backend": backend_name,
        "prompts": hashlib.sha256((SYSTEM_PROMPT + USER_PROMPT).encode()).hexdigest(),
        "temperature": config.temperature,
        "top_p": config.top_p,
        "top_k": config.top_k,
        "max_new_tokens": config.max_new_tokens,
        "seed": config.seed,
        "uid": item.uid,
        "gt": item.gt,
        "pred": item.pred,
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def _read_cache(path: Path) -> dict[str, str]:
    replies: dict[str, str] = {}
    if path.is_file():
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                    replies[record["key"]] = record["reply"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line cut short by a crash
    return replies


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line that a crash left without its newline, so appends start on a fresh line
    (otherwise the next reply would be glued to the torn one and lost on the next resume)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        f.truncate(data.rfind(b"\n") + 1)


def run_judge(
    items: Sequence[JudgeItem],
    backend: JudgeBackend,
    config: JudgeConfig,
    cache_path: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[JudgeResult]:
    """Judge every item (cached ones are not asked again); results in ``items`` order."""
    keys = [item_key(item, backend.name, config) for item in items]
    replies = _read_cache(cache_path) if cache_path else {}
    todo = [(k, item) for k, item in zip(keys, items, strict=True) if k not in replies]
    if progress:
        progress(len(items) - len(todo))
    lock = threading.Lock()
    cache_file = None
    if cache_path and todo:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(cache_path)
        cache_file = open(cache_path, "a", encoding="utf-8")

    def ask(job: tuple[str, JudgeItem]) -> None:
        key, item = job
        seed = None if config.seed is None else (config.seed + int(key[:8], 16)) % (2**31)
        reply = backend.complete(judge_messages(item.gt, item.pred), seed)
        with lock:
            replies[key] = reply
            if cache_file:
                cache_file.write(json.dumps({"key": key, "uid": item.uid, "reply": reply}) + "\n")
                cache_file.flush()
            if progress:
                progress(1)

    try:
        workers = config.concurrency if isinstance(backend, HTTPChat) else 1
        if workers > 1 and len(todo) > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for _ in pool.map(ask, todo):
                    pass
        else:
            for job in todo:
                ask(job)
    except ChatError as err:  # the backend's JudgeError, or a plain ChatError
        done = sum(k in replies for k in keys)
        where = f"saved in {cache_path}: rerun the same command to resume" if cache_path else ""
        raise JudgeError(
            f"{err} ({done} of {len(keys)} pairs judged{'; ' if where else ''}{where})"
        ) from None
    finally:
        if cache_file:
            cache_file.close()
    return [JudgeResult(replies[k], parse_score(replies[k])) for k in keys]
