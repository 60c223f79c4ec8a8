#!/usr/bin/env bash
# The whole recipe on a CPU in one command, the newcomer's tour of the architecture:
#   QEVD-SIM data -> stage 1 (causal CNN) -> features -> stage 2 (clips) -> stage 3 (long range)
#   -> evaluation on unseen test splits -> report + the coach folder (RUN/coach, bundle-ready).
# Every step is recorded in RUN/steps.json and skipped when rerun; an interrupted step resumes.
# Sets up .venv if missing. Extra arguments go to `livefit train` (e.g. --ablation no-stage2).
#   RUN=runs/out/embedded PRESET=embedded bash runs/train_embedded.sh
#   PRESET=tiny RUN=/tmp/tiny bash runs/train_embedded.sh      # the same steps in about a minute
# To ship the result as the bundled coach: rm -r livefit/bundled/coach && cp -r RUN/coach livefit/bundled/
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/out/embedded}
PRESET=${PRESET:-embedded}
LIVEFIT=.venv/bin/livefit

[ -x "$LIVEFIT" ] || bash scripts/setup.sh  # a fresh checkout: virtualenv and packages first
start=$(date +%s)
$LIVEFIT train --preset "$PRESET" --out "$RUN" "$@"
echo "wall time: $(( $(date +%s) - start )) s"
sed -n '/## Training time/,/^## Metrics/p' "$RUN/report.md" | head -n 20
