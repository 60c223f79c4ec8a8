"""Per-pair text metrics: METEOR (NLTK) and ROUGE-L (Google ``rouge_score``), exactly as the
reference evaluator reaches them through Hugging Face ``evaluate``.

Sits after matching: each recall-direction (ground truth, prediction) pair -> one score per
metric; ``livefit.eval.evaluate`` pools them (mean over all pairs of the benchmark).

Tokenisation for METEOR is NLTK's ``word_tokenize``: Punkt sentence split, then NLTK's
Treebank-style word tokenizer per sentence. It needs the ``punkt_tab`` English model, which is
not installable offline from a package; when it is absent we run the same two steps with an
untrained ``PunktSentenceTokenizer()`` (no learnt abbreviation list). See docs/eval.md for the
(only) difference; the tokenizer used is written into every results file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

METEOR_ALPHA = 0.9
METEOR_BETA = 3.0
METEOR_GAMMA = 0.5

TOKENIZER_PUNKT = "nltk.word_tokenize (punkt_tab english)"
TOKENIZER_FALLBACK = (
    "nltk PunktSentenceTokenizer() [untrained, no abbreviation list] + NLTKWordTokenizer"
)


@dataclass(frozen=True)
class Tokenizer:
    """A word tokenizer and the name written into provenance."""

    name: str
    tokenize: Callable[[str], list[str]]


def fallback_word_tokenize(text: str) -> list[str]:
    """``word_tokenize`` with an untrained Punkt sentence splitter instead of the English model."""
    sentences = _untrained_punkt().tokenize(text)
    word_tok = _treebank()
    return [token for sentence in sentences for token in word_tok.tokenize(sentence)]


@functools.cache
def _untrained_punkt():
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    return PunktSentenceTokenizer()


@functools.cache
def _treebank():
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer()


@functools.cache
def get_tokenizer(prefer_punkt: bool = True) -> Tokenizer:
    """NLTK's ``word_tokenize`` if its English Punkt model is installed, else the fallback."""
    if prefer_punkt:
        from nltk.tokenize import punkt_model_available, word_tokenize

        if punkt_model_available("english"):
            return Tokenizer(TOKENIZER_PUNKT, word_tokenize)
    return Tokenizer(TOKENIZER_FALLBACK, fallback_word_tokenize)


def meteor(reference: str, prediction: str, wordnet, tokenize: Callable[[str], list[str]]) -> float:
    """NLTK ``single_meteor_score(tok(ref), tok(pred))`` with alpha 0.9, beta 3, gamma 0.5."""
    from nltk.translate.meteor_score import single_meteor_score

    return float(
        single_meteor_score(
            tokenize(reference),
            tokenize(prediction),
            alpha=METEOR_ALPHA,
            beta=METEOR_BETA,
            gamma=METEOR_GAMMA,
            wordnet=wordnet,
        )
    )


@functools.cache
def rouge_scorer():
    """``rouge_score``'s ``RougeScorer(["rougeL"], use_stemmer=False)``, default tokenizer."""
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(reference: str, prediction: str) -> float:
    """ROUGE-L F-measure of one pair (``score(target=reference, prediction=prediction)``)."""
    return float(rouge_scorer().score(reference, prediction)["rougeL"].fmeasure)
