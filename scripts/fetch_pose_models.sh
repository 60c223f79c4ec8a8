#!/usr/bin/env bash
# Fetch MediaPipe Pose's two TFLite models (detector + full landmark model, Apache-2.0) for
# livefit.vision.pose_estimator. Setup-time only: the library never downloads anything.
#
#   bash scripts/fetch_pose_models.sh            # -> $LIVEFIT_POSE_MODELS or <repo>/.cache/pose_models/
#   bash scripts/fetch_pose_models.sh DIR        # -> DIR
#   bash scripts/fetch_pose_models.sh --lite [DIR]  # also the lite landmark model (see below)
#
# Idempotent: when both files are already there with the right sha256 it does nothing.
# The models come out of the mediapipe==0.10.14 wheel (downloaded with --no-deps into a temp
# dir, never installed), so the only requirement is pip and unzip (or python's zipfile).
set -euo pipefail

LITE=0
if [[ "${1:-}" == "--lite" ]]; then
  LITE=1
  shift
fi
MP_VERSION="0.10.14"
REPO="$(cd "$(dirname "$0")/.." && pwd)"  # the default folder is the repo's, wherever we run
DEST="${1:-${LIVEFIT_POSE_MODELS:-$REPO/.cache/pose_models}}"
PYTHON="${PYTHON:-python3}"

# sha256 of the files inside mediapipe-0.10.14 (same in every platform's wheel).
declare -A SHA256=(
  [pose_detection.tflite]=9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c
  [pose_landmark_full.tflite]=e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f
)
declare -A MEMBER=(
  [pose_detection.tflite]=mediapipe/modules/pose_detection/pose_detection.tflite
  [pose_landmark_full.tflite]=mediapipe/modules/pose_landmark/pose_landmark_full.tflite
)

fail() { echo "fetch_pose_models: $*" >&2; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

all_present() {
  local name
  for name in "${!SHA256[@]}"; do
    [[ -f "$DEST/$name" && "$(sha_of "$DEST/$name")" == "${SHA256[$name]}" ]] || return 1
  done
  [[ -f "$DEST/LICENSE" ]]
}

# --lite: MediaPipe Pose's lite landmark model (model_complexity=0, Apache-2.0), which no
# mediapipe wheel carries; the npm package @mediapipe/pose does (a 41 MB tarball, checked by its
# sha256, then the one member by its own; its full model is byte for byte the wheel's).
NPM_URL="https://registry.npmjs.org/@mediapipe/pose/-/pose-0.5.1675469404.tgz"
NPM_SHA256=8bb349a7b3a3ba699df23be804ddd3b3eab810b50b15406894be257859388a84
LITE_SHA256=f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61

fetch_lite() {
  local lite="$DEST/pose_landmark_lite.tflite"
  if [[ -f "$lite" && "$(sha_of "$lite")" == "$LITE_SHA256" ]]; then
    echo "lite landmark model already in $DEST (sha256 ok)"
    return 0
  fi
  local tmp
  tmp="$(mktemp -d)"
  echo "downloading @mediapipe/pose from npm (the lite landmark model only, 41 MB) ..."
  "$PYTHON" - "$NPM_URL" "$tmp/pose.tgz" <<'PY' || { rm -rf "$tmp"; fail "download of $NPM_URL failed (is npm's registry reachable?)"; }
import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=120) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f)
PY
  local got
  got="$(sha_of "$tmp/pose.tgz")"
  [[ "$got" == "$NPM_SHA256" ]] || { rm -rf "$tmp"; fail "$NPM_URL: sha256 $got, expected $NPM_SHA256"; }
  "$PYTHON" - "$tmp/pose.tgz" "$lite.part" <<'PY' || { rm -rf "$tmp"; fail "no lite model in the npm package"; }
import shutil, sys, tarfile
with tarfile.open(sys.argv[1]) as t, t.extractfile("package/pose_landmark_lite.tflite") as src:
    with open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
  rm -rf "$tmp"
  got="$(sha_of "$lite.part")"
  [[ "$got" == "$LITE_SHA256" ]] || { rm -f "$lite.part"; fail "pose_landmark_lite.tflite: sha256 $got, expected $LITE_SHA256"; }
  mv "$lite.part" "$lite"
  echo "lite landmark model in $DEST (sha256 ok)"
}

if all_present; then
  echo "pose models already in $DEST (sha256 ok)"
  if [[ "$LITE" == 1 ]]; then fetch_lite; fi
  exit 0
fi

command -v sha256sum >/dev/null || fail "sha256sum not found"
mkdir -p "$DEST" || fail "cannot create $DEST"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "downloading mediapipe==$MP_VERSION wheel (models only, not installed) ..."
# Any platform's wheel carries the same model files; ask for one that exists for this Python,
# falling back to a fixed manylinux cp311 wheel when this platform has none.
if ! "$PYTHON" -m pip download "mediapipe==$MP_VERSION" --no-deps --only-binary=:all: \
      -d "$TMP" -q 2>"$TMP/pip.log"; then
  "$PYTHON" -m pip download "mediapipe==$MP_VERSION" --no-deps --only-binary=:all: \
      --python-version 3.11 --platform manylinux2014_x86_64 -d "$TMP" -q 2>>"$TMP/pip.log" \
    || fail "pip download mediapipe==$MP_VERSION failed (is PyPI reachable?): $(tail -n 3 "$TMP/pip.log" | tr '\n' ' ')"
fi
WHEEL="$(ls "$TMP"/mediapipe-"$MP_VERSION"-*.whl 2>/dev/null | head -n 1)"
[[ -n "$WHEEL" ]] || fail "no mediapipe wheel in $TMP after pip download"

# Unzip just the two models and the licence (python's zipfile, so unzip need not be installed).
"$PYTHON" - "$WHEEL" "$DEST" "${MEMBER[pose_detection.tflite]}" \
    "${MEMBER[pose_landmark_full.tflite]}" <<'PY' || fail "could not extract the models from $WHEEL"
import shutil, sys, zipfile
from pathlib import Path
wheel, dest, *members = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    lic = [n for n in names if n.endswith(".dist-info/LICENSE")]
    for member, out in [(m, Path(m).name) for m in members] + [(lic[0], "LICENSE")]:
        with z.open(member) as src, open(Path(dest) / out, "wb") as dst:
            shutil.copyfileobj(src, dst)
PY

for name in "${!SHA256[@]}"; do
  got="$(sha_of "$DEST/$name")"
  if [[ "$got" != "${SHA256[$name]}" ]]; then
    rm -f "$DEST/$name"
    fail "$name: sha256 $got, expected ${SHA256[$name]} (removed)"
  fi
done
echo "pose models in $DEST: pose_detection.tflite, pose_landmark_full.tflite, LICENSE (sha256 ok)"
if [[ "$LITE" == 1 ]]; then fetch_lite; fi
