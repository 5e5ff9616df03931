#!/usr/bin/env bash
# One GPU session for lowprof: everything the project needs from a GPU, in one command, within BUDGET
# seconds (default 420: with a lent machine's start, under 10 minutes of GPU time). Run it in the repo
# root; scripts/gpu_prepare.sh prints the exact device call (wheels and compiled modules to carry).
#
#   bash scripts/gpu_session.sh                                       # on the GPU machine
#   DRY_RUN=1 GPU_NAME="NVIDIA H200" OUT=/tmp/o bash scripts/gpu_session.sh   # no GPU: the control flow
#
# Stages, in order of value, each time-boxed against one deadline; each writes under results/<gpu>/<stage>/
# and is packed into $OUT/<stage>.tgz as soon as it ends, so a timeout or a kill still returns what was done:
#   setup   wheels carried in .whl/ installed offline into $SITE; what imports (-> checks/setup.txt)
#   checks  nvidia-smi, toolchain, pip list, lowprof info, scripts/gpu_checks.py (NVML semantics, clocks,
#           %globaltimer, NVRTC SASS)
#   bench   scripts/gpu_bench.sh, GPU suite
#   sweep   scripts/gpu_sweep.sh (8 batches, one Kineto session each)
#   power   scripts/gpu_power.sh (batch 8 and 64, 10 s each) and its real NVML replay file
#   traces  rolling 0.5 s Kineto segments (pytorch/pytorch#192021), CuPy through CUPTI, their summary,
#           the GPU tests of test_nvml / test_live_trace
#   host    the host dispatch suite (pyperf) and the GPU quick-suite test
# $OUT gets log.txt (everything printed), SESSION.md (command, date, driver, commit, each stage's status
# and seconds; also results/<gpu>/SESSION.md) and the six stage archives: 8 files, the device tool's limit.
#
# Settings: BUDGET (s), OUT, RESULTS_ROOT (default results), WHEELS (.whl), SITE (/tmp/lowprof-site),
# MIN_STAGE_S (a stage with less time left is skipped, default 15), DRY_RUN=1 (no GPU command runs: each
# GPU stage says "no GPU" and sleeps DRY_STAGE_S instead), CHECK_MODULES (more modules for the import check).
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
BUDGET=${BUDGET:-420}
MIN_STAGE_S=${MIN_STAGE_S:-15}
RESERVE_S=${RESERVE_S:-8}       # kept for the summary and the last archive
DRY_RUN=${DRY_RUN:-}
DRY_STAGE_S=${DRY_STAGE_S:-0}
OUT=${OUT:-/tmp/lowprof-out}
WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/lowprof-site}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
source scripts/gpu_env.sh
export PYTHONUNBUFFERED=1 COLUMNS=160 DRY_RUN DRY_STAGE_S SITE

left() { echo $(( BUDGET - ($(date +%s) - T0) )); }

if [ -z "$DRY_RUN" ] && ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_session: no GPU (nvidia-smi lists none); DRY_RUN=1 GPU_NAME=... runs the control flow without one"
  exit 1
fi
[ -n "$DRY_RUN" ] && export GPU_NAME=${GPU_NAME:-dry run}
R=$(results_dir) || exit 1
export R
mkdir -p "$R"
echo "gpu_session: $(gpu_name) -> $R, budget $BUDGET s${DRY_RUN:+, DRY RUN (no GPU command runs)}; python: $PY"

declare -A STATUS SECS
ORDER=()

summary() {  # SESSION.md: what ran, how it ended; rewritten after every stage
  {
    echo "# lowprof GPU session: $(gpu_name)"
    echo
    echo "- command: \`bash scripts/gpu_session.sh\` (BUDGET=$BUDGET${DRY_RUN:+, DRY_RUN=1})"
    echo "- date: $(date -u -d "@$T0" +%Y-%m-%dT%H:%M:%SZ)"
    echo "- driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)"
    echo "- git: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "- python: $("$PY" -c 'import sys; print(sys.version.split()[0], sys.executable)' 2>&1)"
    echo "- elapsed: $(( $(date +%s) - T0 )) s of $BUDGET s"
    echo
    echo "| stage | status | seconds |"
    echo "|---|---|---|"
    for s in "${ORDER[@]}"; do echo "| $s | ${STATUS[$s]} | ${SECS[$s]:-} |"; done
  } > "$R/SESSION.md"
  cp "$R/SESSION.md" "$OUT/SESSION.md"
}

pack() {  # pack NAME: results/<gpu>/NAME -> $OUT/NAME.tgz (raw traces dropped if over 15 MB)
  local name=$1 base
  base=$(dirname "$R")
  tar czf "$OUT/$name.tgz" -C "$base" "$(basename "$R")/$name" 2>/dev/null
  if (( $(stat -c %s "$OUT/$name.tgz") > 15000000 )); then
    tar czf "$OUT/$name.tgz" -C "$base" --exclude='*.pt.trace.json' --exclude='*.pt.trace.json.gz' \
      --exclude='cupti-*.jsonl' "$(basename "$R")/$name" 2>/dev/null
  fi
  ls -la "$OUT/$name.tgz"
}

stage() {  # stage NAME CAP_S: run the function stage_NAME under the deadline, then pack its folder
  local name=$1 cap=$2 l t rc
  l=$(( $(left) - RESERVE_S ))
  (( l < cap )) && cap=$l
  ORDER+=("$name")
  echo
  echo "=== [t=$(( $(date +%s) - T0 )) s, left $(left) s] $name (up to $cap s)"
  if (( cap < MIN_STAGE_S )); then
    STATUS[$name]="skipped: no time left"
    echo "SKIPPED (no time): $name"
    summary
    return
  fi
  mkdir -p "$R/$name"
  t=$(date +%s)
  timeout -k 20 "$cap" bash -c "stage_$name"
  rc=$?
  SECS[$name]=$(( $(date +%s) - t ))
  case $rc in
    0) STATUS[$name]=${DRY_RUN:+"no GPU (dry run): nothing measured"}; STATUS[$name]=${STATUS[$name]:-ok} ;;
    124|137) STATUS[$name]="timed out after $cap s (partial results)" ;;
    *) STATUS[$name]="failed (exit $rc)" ;;
  esac
  echo "--- $name: ${STATUS[$name]} in ${SECS[$name]} s"
  pack "$name"
  summary
}

dry() {  # in a dry run, say what would run instead of running it
  [ -n "$DRY_RUN" ] || return 1
  echo "no GPU (dry run): would run: $*" | tee -a "$R/$STAGE/DRY_RUN.txt"
  sleep "$DRY_STAGE_S"
  return 0
}

run_or_dry() { dry "$@" || "$@"; }

# ------------------------------------------------------------------ setup (not time-boxed: seconds)
ORDER+=(setup)
mkdir -p "$R/checks"
t=$(date +%s)
{
  echo "python: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
  if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    echo "wheels: $(cd "$WHEELS" && ls *.whl | tr '\n' ' ')"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl \
      || { echo "pip failed; unzipping the wheels instead"
           "$PY" -c "import glob, sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in glob.glob(sys.argv[2] + '/*.whl')]" "$SITE" "$WHEELS"; }
  else
    echo "wheels: none in $WHEELS (cffi, pyperf, cupti-python, py-spy stay missing: scripts/gpu_prepare.sh)"
  fi
} > "$R/checks/setup.txt" 2>&1
export PYTHONPATH="$PYTHONPATH:$SITE" PATH="$SITE/bin:$PATH"
modules="lowprof lowprof.native._kscan ${CHECK_MODULES:-}"
[ -n "$DRY_RUN" ] || modules="$modules torch cupy pynvml numba pandas pyarrow numpy cffi pyperf cupti pytest"
"$PY" - $modules >> "$R/checks/setup.txt" 2>&1 <<'PY'
import importlib, sys
for m in sys.argv[1:]:
    try:
        mod = importlib.import_module(m)
        print(f"  {m:24s} ok {getattr(mod, '__version__', '')}")
    except Exception as e:  # noqa: BLE001
        print(f"  {m:24s} MISSING {type(e).__name__}: {e}")
PY
command -v py-spy >> "$R/checks/setup.txt" 2>&1 || echo "  py-spy                   MISSING" >> "$R/checks/setup.txt"
cat "$R/checks/setup.txt"
SECS[setup]=$(( $(date +%s) - t ))
STATUS[setup]="ok"
summary

# ------------------------------------------------------------------ the stages
stage_checks() {
  STAGE=checks
  local d=$R/checks
  run_or_dry bash -c "{ nvidia-smi; nvidia-smi -q -d CLOCK,PERFORMANCE,POWER,TEMPERATURE; } > $d/nvidia-smi.txt 2>&1"
  { nvcc --version; command -v nvdisasm cuobjdump nvcc ncu; } > "$d/toolchain.txt" 2>&1
  "$PY" -m pip list 2>/dev/null | grep -i -E "torch|cupy|nvidia|cupti|cuda|numba|pandas|pyarrow|numpy|rich|psutil" > "$d/pip.txt"
  run_or_dry bash -c "$PY -m lowprof info --json > $d/info.json"
  run_or_dry "$PY" scripts/gpu_checks.py "$d/gpu_checks.json"
}

stage_bench() {
  STAGE=bench
  run_or_dry env HOST=0 bash scripts/gpu_bench.sh
}

stage_sweep() {
  STAGE=sweep
  run_or_dry bash scripts/gpu_sweep.sh
}

stage_power() {
  STAGE=power
  run_or_dry env SECONDS_PER_RUN=10 bash scripts/gpu_power.sh
}

stage_traces() {
  STAGE=traces
  local d=$R/traces rc=0
  # default-style rolling segments, shorter: many re-registrations of CUPTI's timestamp callback
  run_or_dry bash -c "$PY -m lowprof run --force --out $d/roll --trace kernels --trace-segment 0.5 -- \
    $PY -m lowprof.workloads.prefill --device cuda --batch 8 --seq 128 --layers 2 --passes 300 --warmup 3 \
    > $d/roll.log 2>&1" || rc=1
  # the same workload untraced: the profiler's overhead beside the traced per-pass times
  run_or_dry bash -c "$PY -m lowprof.workloads.prefill --device cuda --batch 8 --seq 128 --layers 2 --passes 10 \
    --warmup 3 > $d/prefill-b8-untraced.txt 2>&1" || rc=1
  run_or_dry bash -c "$PY -m lowprof run --force --out $d/cupy --trace kernels --trace-segment 0.5 -- $PY -c '
import time, cupy
x = cupy.arange(1 << 24, dtype=cupy.float32)
end = time.monotonic() + 3
while time.monotonic() < end:
    for _ in range(50): x = cupy.sin(x)
    y = x.sum().get()
' > $d/cupy.log 2>&1" || rc=1
  run_or_dry "$PY" scripts/gpu_checks.py --summarize-traces "$d/roll" "$d/cupy" "$d/summary.json" || rc=1
  run_or_dry bash -c "$PY -m pytest -q -p no:cacheprovider tests/test_nvml.py::test_real_gpu_record_and_replay \
    tests/test_live_trace.py::test_cupy_kernels_are_recorded_through_cupti > $d/pytest.txt 2>&1" || rc=1
  return $rc
}

stage_host() {
  STAGE=host
  local d=$R/host rc=0
  run_or_dry bash -c "BENCH_OUT=$d GPU=0 HOST=1 bash scripts/gpu_bench.sh > $d/bench-host.txt 2>&1" || rc=1
  run_or_dry bash -c "$PY -m pytest -q -p no:cacheprovider tests/test_microbench_gpu.py > $d/pytest-gpu-suite.txt 2>&1" || rc=1
  return $rc
}

export -f dry run_or_dry stage_checks stage_bench stage_sweep stage_power stage_traces stage_host gpu_name gpu_slug \
  results_dir require_torch_cuda
export T0 BUDGET

stage checks 90
stage bench 150
stage sweep 120
stage power 75
stage traces 110
stage host 80

echo
echo "=== summary (t=$(( $(date +%s) - T0 )) s)"
cat "$R/SESSION.md"
tail -25 "$R/sweep/bound.txt" 2>/dev/null
cat "$R/power/agreement.txt" 2>/dev/null
tail -12 "$R/bench/gpu-table.txt" 2>/dev/null
ls -la "$OUT"
