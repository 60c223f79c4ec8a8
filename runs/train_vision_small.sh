#!/usr/bin/env bash
# Stage 1 on the CPU, end to end, in one command: synthetic `small` clips -> the small causal CNN
# (configs/vision/small.json) -> held-out-participant report (exercise and main-mistake accuracy).
# Sets up .venv if missing; reuses the data and the decoded-clip cache when they exist; extra
# arguments go to `livefit train vision` (`--resume` continues a stopped run, `--seed N`).
#   DATA=out/synth-small RUN=runs/out/vision-small THREADS=1 bash runs/train_vision_small.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-out/synth-small}
RUN=${RUN:-runs/out/vision-small}
THREADS=${THREADS:-2}  # 1 when other jobs share the 2-core box (2 threads then ran 10x slower)
LIVEFIT=.venv/bin/livefit

[ -x "$LIVEFIT" ] || bash scripts/setup.sh  # a fresh checkout: virtualenv and packages first
if [ ! -f "$DATA/QEVD-FIT-300K/test/clips.json" ]; then
    # Stage 1 needs only the short clips: keep the long workouts to one per split.
    $LIVEFIT data synth --preset small --out "$DATA" --seed 0 --train-workouts 1 --test-workouts 1
fi
start=$(date +%s)
$LIVEFIT train vision --data "$DATA" --out "$RUN" --config configs/vision/small.json \
    --threads "$THREADS" "$@"
echo "wall time: $(( $(date +%s) - start )) s (decode + train + evaluate)"
head -n 8 "$RUN/eval/final/report.txt"
