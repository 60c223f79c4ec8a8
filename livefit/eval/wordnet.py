"""WordNet 3.0 for METEOR, offline, from the Debian packages ``wordnet-base`` and
``wordnet-sense-index`` (installed by scripts/setup.sh).

Sits under the text metrics: ``load_wordnet()`` returns the NLTK ``WordNetCorpusReader`` that
``livefit.eval.text_metrics.meteor`` passes to NLTK's ``single_meteor_score``. NLTK's reader
needs a ``lexnames`` file that the Debian packages lack, and (since NLTK 3.9's path sandbox)
refuses files reached through symlinks out of its root, so the first call copies the Debian
files into a cache folder, writes ``lexnames`` from the table below, and adds a manifest of
SHA-256 sums (written atomically: a half-built cache is never used). Nothing is downloaded.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
# Files NLTK's WordNetCorpusReader opens (its _FILES), minus lexnames which we write.
WORDNET_FILES = (
    "cntlist.rev",
    "index.sense",
    "index.adj",
    "index.adv",
    "index.noun",
    "index.verb",
    "data.adj",
    "data.adv",
    "data.noun",
    "data.verb",
    "adj.exc",
    "adv.exc",
    "noun.exc",
    "verb.exc",
)
# WordNet 3.0's lexicographer files (lexnames(5WN)): line k is "k<TAB>name<TAB>category" with
# category 1 noun, 2 verb, 3 adjective, 4 adverb.
LEXNAMES = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
MANIFEST = "livefit-wordnet.json"


class WordNetMissingError(RuntimeError):
    """The Debian WordNet files are not installed."""


def lexnames_text() -> str:
    """The 45-line ``lexnames`` file of WordNet 3.0."""
    return "".join(
        f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES)
    )


def source_dir() -> Path:
    return Path(os.environ.get("LIVEFIT_WORDNET_DIR", DEBIAN_WORDNET_DIR))


def cache_root() -> Path:
    base = os.environ.get("LIVEFIT_CACHE") or Path.home() / ".cache" / "livefit"
    return Path(base) / "wordnet-3.0"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _debian_version() -> str | None:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "wordnet-base"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _source_stat(src: Path) -> dict[str, list[int]]:
    return {
        name: [(src / name).stat().st_size, (src / name).stat().st_mtime_ns]
        for name in WORDNET_FILES
    }


def prepare_wordnet(src: Path | None = None, cache: Path | None = None) -> Path:
    """Build (once) and return the NLTK data root holding ``corpora/wordnet``.

    The cache is rebuilt when the source files change (size or mtime).
    """
    src = Path(src) if src is not None else source_dir()
    cache = Path(cache) if cache is not None else cache_root()
    missing = [name for name in WORDNET_FILES if not (src / name).is_file()]
    if missing:
        raise WordNetMissingError(
            f"WordNet 3.0 is not installed in {src} (missing {', '.join(missing[:4])}"
            f"{', ...' if len(missing) > 4 else ''}): run scripts/setup.sh, or "
            "`apt-get install wordnet-base wordnet-sense-index`"
        )
    final = cache / "nltk_data"
    manifest = final / "corpora" / "wordnet" / MANIFEST
    stat = _source_stat(src)

    def current() -> bool:
        try:
            return json.loads(manifest.read_text()).get("source_stat") == stat
        except (json.JSONDecodeError, OSError):
            return False

    if current():
        return final
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=".build-"))
    try:
        corpus = tmp / "corpora" / "wordnet"
        corpus.mkdir(parents=True)
        for name in WORDNET_FILES:
            shutil.copyfile(src / name, corpus / name)
        (corpus / "lexnames").write_text(lexnames_text())
        info = {
            "source": str(src),
            "source_stat": stat,
            "debian_package_version": _debian_version(),
            "sha256": {name: _sha256(corpus / name) for name in (*WORDNET_FILES, "lexnames")},
        }
        (corpus / MANIFEST).write_text(json.dumps(info, indent=1) + "\n")
        old = cache / f".old-{os.getpid()}"
        try:
            if final.exists():
                final.rename(old)  # a stale copy
            os.replace(tmp, final)
        except OSError:
            if not current():  # unless another process just finished the same build
                raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


# The files NLTK's reader reads sequentially, once, while it starts (see load_wordnet).
_POS_FILES = ("adj", "adv", "noun", "verb")
_READ_ONCE_AT_START = frozenset(
    ("lexnames", *(f"index.{pos}" for pos in _POS_FILES), *(f"{pos}.exc" for pos in _POS_FILES))
)


@dataclass(frozen=True)
class WordNetInfo:
    """Where the WordNet behind METEOR came from (written into every results file)."""

    corpus_dir: str
    source: str
    version: str | None  # as NLTK reads it from data.adj
    debian_package_version: str | None
    sha256: str  # over the sorted per-file sums of the manifest


@functools.cache
def load_wordnet():
    """NLTK ``WordNetCorpusReader`` over the cached Debian WordNet 3.0 (loaded once).

    The reader changes two start-up steps and no lookup. NLTK maps the loaded WordNet onto
    WordNet 3.0 by reading ``index.sense`` twice (~2 s), a table used only to load multilingual
    OMW tab files, which METEOR never does; here the data is WordNet 3.0 itself. And the files
    NLTK reads once from start to end at start-up (``lexnames``, the four ``index.<pos>`` and the
    ``<pos>.exc`` files) are opened as plain text files rather than through NLTK's seekable
    stream reader, whose pure-Python ``readline`` cost ~2 s over 180k index lines; NLTK's own
    code still parses every line. The data files, read by offset, keep NLTK's reader. A test
    compares the loaded tables and METEOR with NLTK's default ``wordnet``.
    """
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class EnglishWordNetReader(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):
            return None  # WordNet 3.0 -> 3.0: no mapping (only OMW tab files use it)

        def open(self, fileid):
            if fileid in _READ_ONCE_AT_START:
                return open(self.abspath(fileid), encoding=self._encoding)
            return super().open(fileid)

    data_root = prepare_wordnet()
    # NLTK only opens files under a root on nltk.data.path; NLTK's own WordNet-version mapping
    # also looks up "corpora/wordnet" there (and finds this same copy).
    if str(data_root) not in nltk.data.path:
        nltk.data.path.append(str(data_root))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The multilingual functions")
        reader = EnglishWordNetReader(str(data_root / "corpora" / "wordnet"), None)
    if reader.get_version() != "3.0":
        raise WordNetMissingError(
            f"{data_root}: expected WordNet 3.0, found version {reader.get_version()!r}"
        )
    return reader


def wordnet_info() -> WordNetInfo:
    reader = load_wordnet()
    corpus = Path(reader.root.path if hasattr(reader.root, "path") else str(reader.root))
    manifest = json.loads((corpus / MANIFEST).read_text())
    combined = hashlib.sha256(
        "".join(f"{k}:{v}\n" for k, v in sorted(manifest["sha256"].items())).encode()
    ).hexdigest()
    return WordNetInfo(
        corpus_dir=str(corpus),
        source=manifest["source"],
        version=reader.get_version(),
        debian_package_version=manifest.get("debian_package_version"),
        sha256=combined,
    )
