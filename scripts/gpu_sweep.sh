#!/usr/bin/env bash
# Record a real prefill sweep on this machine's GPU into results/<gpu>/ (see docs/live-trace.md).
#
#   scripts/gpu_sweep.sh                      # batch 1..128, seq 128, 10 timed passes per batch
#   BATCHES=1,8,64 SEQ=512 scripts/gpu_sweep.sh
#
# Needs a CUDA build of torch in $PYTHON (default .venv/bin/python); exits 1 with one line if
# torch sees no GPU. Writes results/<gpu-slug>/sweep/ (one run directory per batch size, with
# the raw Kineto traces), bound.txt / bound.json (lowprof bound) and launches-b<B>.txt per batch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
BATCHES=${BATCHES:-1,2,4,8,16,32,64,128}
SEQ=${SEQ:-128}
PASSES=${PASSES:-10}
WARMUP=${WARMUP:-3}
MODEL=${MODEL:---layers 4 --hidden 256 --heads 4 --vocab 8192}

gpu=$("$PY" - <<'PY'
import sys, torch
if not torch.cuda.is_available():
    sys.exit(f"gpu_sweep: torch {torch.__version__} sees no CUDA device (need a GPU and a CUDA build of torch)")
print(torch.cuda.get_device_name(0))
PY
)
slug=$(printf '%s' "$gpu" | tr 'A-Z' 'a-z' | sed -E 's/^nvidia //; s/[^a-z0-9]+/-/g; s/-+$//')
out=results/$slug
mkdir -p "$out"
echo "gpu_sweep: $gpu -> $out (batches $BATCHES, seq $SEQ)" >&2

# --trace-segment 0: export once at exit, so no pass is split by a segment boundary (runs are short).
"$PY" -m lowprof sweep --force --out "$out/sweep" --param "batch=$BATCHES" --trace kernels --trace-segment 0 -- \
    "$PY" -m lowprof.workloads.prefill --device cuda --batch '{batch}' --seq "$SEQ" $MODEL \
    --passes "$PASSES" --warmup "$WARMUP"

for d in "$out"/sweep/batch=*; do
    "$PY" -m lowprof launches "$d" --top 5 > "$out/launches-b${d##*=}.txt" || true
done
"$PY" -m lowprof bound "$out/sweep" --json > "$out/bound.json"
COLUMNS=120 "$PY" -m lowprof bound "$out/sweep" | tee "$out/bound.txt"
