# Sourced by scripts/gpu_*.sh: one interpreter rule, one import path, one name for a GPU's results folder.
#
#   PY        $PY, else $PYTHON, else .venv/bin/python where it exists, else python3 (the GPU machines have
#             no .venv: their python3 holds torch, CuPy and nvidia-ml-py)
#   PYTHONPATH  the repo first, so `import lowprof` works from any directory without installing it
#   gpu_name  GPU 0's name as nvidia-smi prints it ($GPU_NAME overrides; empty without a GPU)
#   gpu_slug  NAME -> results folder name: lower case, a leading "NVIDIA " dropped, every run of other
#             characters one "-"   ("NVIDIA H200" -> h200, "NVIDIA H100 80GB HBM3" -> h100-80gb-hbm3)
#   results_dir  ${RESULTS_ROOT:-results}/<gpu_slug of gpu_name>
LOWPROF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_PY=${VENV_PY:-$LOWPROF_ROOT/.venv/bin/python}
PY=${PY:-${PYTHON:-}}
if [ -z "$PY" ]; then
  if [ -x "$VENV_PY" ]; then PY=$VENV_PY; else PY=python3; fi
fi
PYTHON=$PY
export PY PYTHON
export PYTHONPATH="$LOWPROF_ROOT${PYTHONPATH:+:$PYTHONPATH}"

gpu_slug() {
  printf '%s' "$1" | tr 'A-Z' 'a-z' | sed -E 's/^nvidia +//; s/[^a-z0-9]+/-/g; s/^-+//; s/-+$//'
}

gpu_name() {
  if [ -n "${GPU_NAME:-}" ]; then printf '%s\n' "$GPU_NAME"; return; fi
  nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1
}

results_dir() {
  local name
  name=$(gpu_name)
  [ -n "$name" ] || { echo "no GPU: nvidia-smi lists none (set GPU_NAME to name the results folder)" >&2; return 1; }
  printf '%s/%s\n' "${RESULTS_ROOT:-results}" "$(gpu_slug "$name")"
}

# torch must see the GPU for the torch workloads: one line and exit 1 if it does not.
require_torch_cuda() {
  "$PY" - "$1" <<'PY'
import sys
try:
    import torch
except ImportError as e:
    sys.exit(f"{sys.argv[1]}: torch is not importable by this python ({e})")
if not torch.cuda.is_available():
    sys.exit(f"{sys.argv[1]}: torch {torch.__version__} sees no CUDA device (need a GPU and a CUDA build of torch)")
PY
}
