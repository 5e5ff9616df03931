#!/usr/bin/env bash
# Record the full GPU microbenchmark suite (and the host dispatch suite) on this machine's GPU 0 into
# results/<gpu-name>/: the run directories, the printed tables, a Markdown table for the README and
# RUN.txt with the command, date, driver, git commit and the clocks nvidia-smi reports.
#
#   scripts/gpu_bench.sh              # full default suite (< 5 min on an H100)
#   SUITE=launch,memory scripts/gpu_bench.sh
#   QUICK=1 scripts/gpu_bench.sh      # smoke test: small sizes, few repeats
#
# Reads clocks, never sets them. Needs CuPy (pip install -e '.[gpu]') and, for the register-bank parity
# classification, nvcc + nvdisasm (optional: the timing runs without them).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)
slug=$(echo "$gpu" | tr -c 'A-Za-z0-9.\n-' '_' | sed 's/_*$//')
out="results/$slug"
mkdir -p "$out"

args=(--out "$out/gpu-run" --force --json)
[ -n "${SUITE:-}" ] && args+=(--suite "$SUITE")
[ -n "${QUICK:-}" ] && args+=(--quick)
cmd="$PY -m lowprof bench gpu ${args[*]}"

{
  echo "command: $cmd"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "gpu: $gpu"
  echo "driver: $driver"
  echo "git: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "python: $($PY -c 'import sys; print(sys.version.split()[0])')"
  echo "cupy: $($PY -c 'import cupy; print(cupy.__version__)' 2>&1 | tail -1)"
  echo
  nvidia-smi -q -d CLOCK,PERFORMANCE,POWER 2>&1 | sed -n '1,80p'
} > "$out/RUN.txt"

start=$(date +%s)
rc=0
$cmd > "$out/gpu-results.json" || rc=$?
echo "gpu suite exit: $rc in $(( $(date +%s) - start )) s" | tee -a "$out/RUN.txt"

$PY -m lowprof.microbench.show "$out/gpu-run" > "$out/gpu-table.txt" || true
$PY -m lowprof.microbench.show "$out/gpu-run" --markdown > "$out/gpu-table.md" || true
$PY -m lowprof bench host --out "$out/host-run" --force --mode fast > "$out/host-table.txt" 2>&1 || true
cat "$out/gpu-table.txt"
exit $rc
