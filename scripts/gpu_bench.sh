#!/usr/bin/env bash
# Record the GPU microbenchmark suite (and the host dispatch suite) on this machine's GPU 0 into
# results/<gpu>/bench/: the run directories, the printed tables, a Markdown table for the README and
# RUN.txt with the command, date, driver, git commit and the clocks nvidia-smi reports.
#
#   scripts/gpu_bench.sh              # full default suite (< 5 min on an H100), then the host suite
#   SUITE=launch,memory scripts/gpu_bench.sh
#   QUICK=1 scripts/gpu_bench.sh      # smoke test: small sizes, few repeats
#   HOST=0 scripts/gpu_bench.sh       # GPU suite only;  GPU=0: host suite only; BENCH_OUT=DIR: elsewhere
#
# The host suite (pyperf) runs HOST_PROCESSES x HOST_VALUES (default 3 x 3: each worker process imports
# torch, so pyperf's own --fast, 11 processes, takes minutes) and is skipped, with a line, where pyperf is
# not importable (the GPU machines lack it: carry its wheel, see scripts/gpu_prepare.sh).
# Reads clocks, never sets them. Needs CuPy and, for the register-bank parity classification, nvdisasm.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh
out=${BENCH_OUT:-$(results_dir)/bench} || exit 1
mkdir -p "$out"
rc=0

if [ "${GPU:-1}" != 0 ]; then
  args=(--out "$out/gpu-run" --force --json)
  [ -n "${SUITE:-}" ] && args+=(--suite "$SUITE")
  [ -n "${QUICK:-}" ] && args+=(--quick)
  cmd="$PY -m lowprof bench gpu ${args[*]}"
  {
    echo "command: $cmd"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "gpu: $(gpu_name)"
    echo "driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)"
    echo "git: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "python: $($PY -c 'import sys; print(sys.version.split()[0], sys.executable)')"
    echo "cupy: $($PY -c 'import cupy; print(cupy.__version__)' 2>&1 | tail -1)"
    echo
    nvidia-smi -q -d CLOCK,PERFORMANCE,POWER 2>&1 | sed -n '1,80p'
  } > "$out/RUN.txt"
  start=$(date +%s)
  $cmd > "$out/gpu-results.json" || rc=$?
  echo "gpu suite exit: $rc in $(( $(date +%s) - start )) s" | tee -a "$out/RUN.txt"
  "$PY" -m lowprof.cli.bench_show "$out/gpu-run" > "$out/gpu-table.txt" 2>&1 || true
  "$PY" -m lowprof.cli.bench_show "$out/gpu-run" --markdown > "$out/gpu-table.md" 2>&1 || true
  cat "$out/gpu-table.txt"
fi

if [ "${HOST:-1}" != 0 ]; then
  if "$PY" -c 'import pyperf' 2>/dev/null; then
    start=$(date +%s)
    "$PY" -m lowprof bench host --out "$out/host-run" --force -p "${HOST_PROCESSES:-3}" -n "${HOST_VALUES:-3}" \
      > "$out/host-table.txt" 2>&1 || rc=$(( rc ? rc : $? ))
    echo "host suite in $(( $(date +%s) - start )) s" | tee -a "$out/RUN.txt"
    cat "$out/host-table.txt"
  else
    echo "host suite skipped: pyperf is not importable by $PY (pip install pyperf)" | tee -a "$out/RUN.txt"
  fi
fi
exit $rc
