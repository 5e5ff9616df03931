#!/usr/bin/env bash
# Prepare scripts/gpu_session.sh, on this machine (not the GPU one): fetch the wheels the GPU machine's
# image lacks into .whl/ (gitignored), make sure the CFFI modules are built, check that they load under
# the GPU machine's Python (3.12) with the carried cffi, and print the exact device call to make.
#
#   scripts/gpu_prepare.sh
#   PY312=/path/to/python3.12 CUPTI_PYTHON=13.0.1 scripts/gpu_prepare.sh
#
# The GPU image (Python 3.12, manylinux x86_64, CUDA 13.0) has torch, CuPy, numba, nvidia-ml-py, pandas,
# pyarrow, rich, psutil, pytest; not cffi (the compiled Kineto scanner's runtime), pycparser (cffi's),
# pyperf (bench host), cupti-python (the CuPy tracer; 13.0.x for CUDA 13.0) or py-spy. Versions: those of
# this venv, so the modules built here meet the cffi they were built with.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WHEELS=${WHEELS:-.whl}
CUPTI_PYTHON=${CUPTI_PYTHON:-13.0.1}
BUDGET=${BUDGET:-420}
[ -x "$PY" ] || { echo "gpu_prepare: $PY not found: run make venv first" >&2; exit 1; }

version() { "$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"; }
want=("cffi==$(version cffi)" "pycparser==$(version pycparser)" "pyperf==$(version pyperf)"
      "py-spy==$(version py-spy)" "cupti-python==$CUPTI_PYTHON")

echo "== wheels for CPython 3.12, manylinux x86_64 -> $WHEELS/: ${want[*]}"
mkdir -p "$WHEELS"
rm -f "$WHEELS"/*.whl  # one version of each: two would stop the install there
plat=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
         manylinux1_x86_64 manylinux_2_34_x86_64 manylinux_2_35_x86_64; do plat+=(--platform "$p"); done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${plat[@]}" \
    -d "$WHEELS" "${want[@]}"
ls -la "$WHEELS"
echo "== what they need (Requires-Dist, extras left out); the GPU image must hold the rest"
for w in "$WHEELS"/*.whl; do
  needs=$("$PY" - "$w" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
print(", ".join(l.split(":", 1)[1].strip() for l in z.read(meta).decode().splitlines()
                if l.startswith("Requires-Dist:") and "extra ==" not in l) or "nothing")
PY
)
  echo "  $(basename "$w"): $needs"
done

echo "== CFFI modules (lowprof/native/*.abi3.so)"
stale=0
for m in kscan tlb oobmalloc; do
  so=lowprof/native/_$m.abi3.so
  if [ ! -f "$so" ] || [ -n "$(find lowprof/native -name "$m*.[ch]" -newer "$so" -o -name "_${m}_build.py" -newer "$so")" ]; then stale=1; fi
done
if [ $stale = 1 ]; then echo "  missing or older than their sources: make venv"; make venv; else echo "  up to date"; fi
ls -la lowprof/native/*.abi3.so

echo "== the abi3 scanner under Python 3.12 with the carried cffi"
if [ -z "${PY312:-}" ]; then  # the first 3.12 that runs (a pyenv shim may exist and refuse)
  for c in python3.12 /usr/bin/python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /root/.pyenv/versions/3.12*/bin/python3.12; do
    if "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then PY312=$c; break; fi
  done
fi
if [ -z "${PY312:-}" ]; then
  echo "  no python3.12 here (set PY312): not checked"
else
  site=$(mktemp -d)
  trap 'rm -rf "$site"' EXIT
  "$PY312" -m pip install -q --no-index --no-deps --target "$site" "$WHEELS"/cffi-*.whl "$WHEELS"/pycparser-*.whl
  # Feed a real trace to the C scanner through cffi and count its events; stdlib json counts them too.
  PYTHONPATH="$site:$PWD" "$PY312" - tests/data/traces/kineto/critical_path__simple_add__benchmark_result_493459_1694039959_trace.json.gz <<'PY'
import gzip, json, sys
import _cffi_backend
from lowprof.native._kscan import ffi, lib

data = gzip.open(sys.argv[1]).read()
sc = ffi.gc(lib.ks_new(), lib.ks_free)
consumed = ffi.new("size_t *")
view, off = memoryview(data), 0
while True:
    rc = lib.ks_feed(sc, ffi.from_buffer(view[off:]), len(data) - off, 1, consumed)
    off += consumed[0]
    if rc != lib.KS_PAUSE:
        break
assert rc != lib.KS_ERROR, ffi.string(lib.ks_error(sc))
want = len(json.loads(data)["traceEvents"])
got = int(lib.ks_events(sc))
print(f"  Python {sys.version.split()[0]}, _cffi_backend {_cffi_backend.__version__}: _kscan.abi3.so loads and "
      f"counts {got} events; json counts {want}")
sys.exit(0 if got == want else 1)
PY
fi

carry=('.whl' 'lowprof/native/_kscan.abi3.so' 'lowprof/native/_tlb.abi3.so' 'lowprof/native/_oobmalloc.abi3.so')
tracked=$(git ls-files -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
carried=$(du -cb "${carry[@]}" | tail -1 | cut -f1)
echo "== what travels: tracked files $(( tracked / 1024 )) KiB + carried $(( carried / 1024 )) KiB (limit 64 MiB)"
(( tracked + carried < 64 * 1024 * 1024 )) || { echo "gpu_prepare: over the 64 MiB the device tool sends" >&2; exit 1; }
echo
echo "== the device call (the run tool): one command, ${BUDGET} s of stages + margin; \$OUT comes back"
printf '{"command": "BUDGET=%s bash scripts/gpu_session.sh", "carry": [%s], "timeout_s": %s}\n' \
  "$BUDGET" "$(printf '"%s", ' "${carry[@]}" | sed 's/, $//')" "$(( BUDGET + 60 ))"
