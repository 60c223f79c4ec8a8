"""METEOR and ROUGE-L against direct calls of NLTK and rouge_score; the tokenizer fallback;
the offline WordNet cache."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from nltk.tokenize import NLTKWordTokenizer
from nltk.tokenize.punkt import PunktSentenceTokenizer, PunktTrainer
from nltk.translate.meteor_score import single_meteor_score
from rouge_score.rouge_scorer import RougeScorer

from livefit.eval import wordnet as wn_module
from livefit.eval.text_metrics import (
    TOKENIZER_FALLBACK,
    fallback_word_tokenize,
    get_tokenizer,
    meteor,
    rouge_l,
)

PAIRS = [
    ("Go lower, get your thighs parallel to the floor.", "Try to go a bit lower."),
    ("Keep your back straight!", "Back straight please."),
    ("Nice, that's 10 reps already.", "Good job, that's ten reps already!"),
    ("You're slowing down, pick it up a bit.", "You are slowing down. Pick up the pace!"),
    ("Don't let your hips sag.", "Don't let the hips drop, keep them up."),
    ("Running in place, lift those knees higher!", "Lift your knees higher while you run."),
    ("Great workout!", "Great workout!"),
    ("Arms all the way up, good!", "Squeeze at the top."),
    ("5 more to go, you've got this!", "Five more, you've got it!"),
    ("Breathe out as you push up.", "exhale when pushing up"),
]


def test_fallback_tokens_by_hand():
    # Sentence split then Treebank tokens: a period ends a token only at a sentence end.
    assert fallback_word_tokenize("Nice. Keep going, that's 5 more!") == [
        "Nice",
        ".",
        "Keep",
        "going",
        ",",
        "that",
        "'s",
        "5",
        "more",
        "!",
    ]
    assert fallback_word_tokenize("Don't stop! You're at 10 reps.") == [
        "Do",
        "n't",
        "stop",
        "!",
        "You",
        "'re",
        "at",
        "10",
        "reps",
        ".",
    ]
    assert fallback_word_tokenize('Say "up" and go 2.5 s faster.') == [
        "Say",
        "``",
        "up",
        "''",
        "and",
        "go",
        "2.5",
        "s",
        "faster",
        ".",
    ]
    # Without the sentence split, "Nice." would stay one token.
    assert NLTKWordTokenizer().tokenize("Nice. Keep going")[0] == "Nice."


def test_fallback_equals_word_tokenize_when_punkt_is_installed():
    from nltk.tokenize import punkt_model_available, word_tokenize

    if not punkt_model_available("english"):
        pytest.skip("punkt_tab (english) is not installed here; nothing may download it")
    for ref, pred in PAIRS:
        assert fallback_word_tokenize(ref) == word_tokenize(ref)
        assert fallback_word_tokenize(pred) == word_tokenize(pred)


def _punkt_with_learnt_parameters() -> PunktSentenceTokenizer:
    """A Punkt model with orthographic context and collocations learnt from coaching text and an
    English-style abbreviation list (what the English punkt_tab model adds to an untrained one).
    A tiny corpus also "learns" junk abbreviations such as "sag", so the list is set by hand."""
    corpus = " ".join([p for pair in PAIRS for p in pair] * 5)
    trainer = PunktTrainer()  # default: collocations after numbers and initials only
    trainer.train(corpus, finalize=True)
    params = trainer.get_params()
    assert params.ortho_context  # it did learn something
    params.abbrev_types = {"dr", "approx", "e.g", "i.e", "vs", "etc", "min", "sec", "a.m", "p.m"}
    return PunktSentenceTokenizer(params)


def test_only_abbreviations_separate_the_fallback_from_a_trained_punkt():
    trained, treebank = _punkt_with_learnt_parameters(), NLTKWordTokenizer()

    def with_trained(text):
        return [t for s in trained.tokenize(text) for t in treebank.tokenize(s)]

    for ref, pred in PAIRS:  # coaching text: identical tokens
        assert fallback_word_tokenize(ref) == with_trained(ref)
        assert fallback_word_tokenize(pred) == with_trained(pred)
    # An abbreviation is where they differ (the documented deviation).
    text = "Do approx. ten reps."
    assert with_trained(text) == ["Do", "approx.", "ten", "reps", "."]
    assert fallback_word_tokenize(text) == ["Do", "approx", ".", "ten", "reps", "."]


def test_tokenizer_choice_is_named():
    from nltk.tokenize import punkt_model_available

    tok = get_tokenizer()
    if not punkt_model_available("english"):
        assert tok.name == TOKENIZER_FALLBACK and tok.tokenize is fallback_word_tokenize


def test_meteor_equals_nltk_direct_call(wordnet):
    tok = fallback_word_tokenize
    for ref, pred in PAIRS:
        direct = single_meteor_score(
            tok(ref), tok(pred), alpha=0.9, beta=3, gamma=0.5, wordnet=wordnet
        )
        assert meteor(ref, pred, wordnet, tok) == direct
    # WordNet synonyms count: "hoist" is a synonym of "lift", "shake" is not.
    synonym = meteor("lift your arms", "hoist your arms", wordnet, tok)
    assert synonym > meteor("lift your arms", "shake your arms", wordnet, tok)


def test_meteor_equals_nltk_default_wordnet(wordnet):
    # With our cache on nltk.data.path, NLTK's own default `wordnet` is this same WordNet 3.0.
    tok = fallback_word_tokenize
    for ref, pred in PAIRS[:4]:
        assert meteor(ref, pred, wordnet, tok) == single_meteor_score(tok(ref), tok(pred))
    # Our reader reads its start-up files as plain text: the tables NLTK's reader builds.
    from nltk.corpus import wordnet as nltk_wordnet

    assert wordnet._lemma_pos_offset_map == nltk_wordnet._lemma_pos_offset_map
    assert wordnet._exception_map == nltk_wordnet._exception_map
    assert wordnet._lexnames == nltk_wordnet._lexnames


def test_rouge_l_equals_rouge_score_direct_call():
    scorer = RougeScorer(["rougeL"], use_stemmer=False)
    for ref, pred in PAIRS:
        assert rouge_l(ref, pred) == scorer.score(ref, pred)["rougeL"].fmeasure
    assert rouge_l("keep going", "keep going") == 1.0
    # not symmetric in general: target first
    assert rouge_l("a b c d", "a b") == scorer.score("a b c d", "a b")["rougeL"].fmeasure


# ---- the WordNet cache -------------------------------------------------------------------------


def test_lexnames_table_matches_the_man_page():
    page = Path("/usr/share/man/man5/lexnames.5WN.gz")
    if not page.is_file():
        pytest.skip("man page not installed")
    text = subprocess.run(["zcat", str(page)], capture_output=True, text=True).stdout
    rows = [line.split("\t") for line in text.splitlines() if line[:2].isdigit() and "\t" in line]
    expected = [(r[0], r[1].strip()) for r in rows]
    ours = [tuple(line.split("\t")[:2]) for line in wn_module.lexnames_text().splitlines()]
    assert ours == expected and len(ours) == 45
    assert "03\tnoun.Tops\t1\n" in wn_module.lexnames_text()
    assert "44\tadj.ppl\t3\n" in wn_module.lexnames_text()


def test_cache_is_built_atomically_and_rebuilt_when_the_source_changes(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in wn_module.WORDNET_FILES:
        (src / name).write_text(f"fake {name}\n")
    root = wn_module.prepare_wordnet(src, tmp_path / "cache")
    corpus = root / "corpora" / "wordnet"
    assert (corpus / "lexnames").read_text() == wn_module.lexnames_text()
    assert (corpus / "data.noun").read_text() == "fake data.noun\n"
    assert not (corpus / "data.noun").is_symlink()  # NLTK refuses links out of its root
    manifest = json.loads((corpus / wn_module.MANIFEST).read_text())
    assert set(manifest["sha256"]) == {*wn_module.WORDNET_FILES, "lexnames"}
    mtime = (corpus / "data.noun").stat().st_mtime_ns
    assert wn_module.prepare_wordnet(src, tmp_path / "cache") == root  # reused
    assert (corpus / "data.noun").stat().st_mtime_ns == mtime
    (src / "data.noun").write_text("changed, longer\n")
    wn_module.prepare_wordnet(src, tmp_path / "cache")
    assert (corpus / "data.noun").read_text() == "changed, longer\n"
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]


def test_missing_debian_wordnet_is_a_clear_error(tmp_path):
    with pytest.raises(wn_module.WordNetMissingError, match="scripts/setup.sh"):
        wn_module.prepare_wordnet(tmp_path / "nowhere", tmp_path / "cache")


def test_wordnet_info(wordnet):
    info = wn_module.wordnet_info()
    assert info.version == "3.0"
    assert Path(info.corpus_dir).is_dir() and len(info.sha256) == 64
    assert os.path.samefile(Path(wordnet.root.path), info.corpus_dir)
