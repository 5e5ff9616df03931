#!/usr/bin/env bash
# Record a real prefill sweep on this machine's GPU into results/<gpu>/sweep/ (see docs/live-trace.md).
#
#   scripts/gpu_sweep.sh                      # batch 1..128, seq 128, 10 timed passes per batch
#   BATCHES=1,8,64 SEQ=512 scripts/gpu_sweep.sh
#
# Needs a CUDA build of torch in $PY (the interpreter scripts/gpu_env.sh picks); exits 1 with
# one line if torch sees no GPU. Writes results/<gpu>/sweep/: runs/ (one run directory per batch size,
# with the raw Kineto traces), bound.txt / bound.json (lowprof bound) and launches-b<B>.txt per batch.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh
BATCHES=${BATCHES:-1,2,4,8,16,32,64,128}
SEQ=${SEQ:-128}
PASSES=${PASSES:-10}
WARMUP=${WARMUP:-3}
MODEL=${MODEL:---layers 4 --hidden 256 --heads 4 --vocab 8192}

require_torch_cuda gpu_sweep
out=$(results_dir)/sweep
mkdir -p "$out"
echo "gpu_sweep: $(gpu_name) -> $out (batches $BATCHES, seq $SEQ)" >&2

# --trace-segment 0: export once at exit, so no pass is split by a segment boundary and CUPTI's
# timestamp callback is registered once (pytorch/pytorch#192021).
"$PY" -m lowprof sweep --force --out "$out/runs" --param "batch=$BATCHES" --trace kernels --trace-segment 0 -- \
    "$PY" -m lowprof.workloads.prefill --device cuda --batch '{batch}' --seq "$SEQ" $MODEL \
    --passes "$PASSES" --warmup "$WARMUP"

for d in "$out"/runs/batch=*; do
    "$PY" -m lowprof launches "$d" --top 5 > "$out/launches-b${d##*=}.txt" || true
done
"$PY" -m lowprof bound "$out/runs" --json > "$out/bound.json"
COLUMNS=120 "$PY" -m lowprof bound "$out/runs" | tee "$out/bound.txt"
