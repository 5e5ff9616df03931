#!/usr/bin/env bash
# Record real GPU power at two batch sizes into results/<gpu>/power/ and print how well the NVML
# energy counter and the integration of both power signals (the 1 s average, field 185, and the
# instantaneous field 186) agree. See docs/power.md.
#
#   scripts/gpu_power.sh                    # batch 8 and 64, 20 s each, nvml sampled every 10 ms
#   BATCHES="4 128" SECONDS_PER_RUN=30 INTERVAL=0.05 scripts/gpu_power.sh
#
# Does not change any GPU setting (power limits stay as they are: two batch sizes, not two limits).
# Also records a real NVML replay file (results/<gpu>/power/nvml-replay.jsonl) that the tests can
# use in place of the synthetic one. Needs a CUDA build of torch in $PY (scripts/gpu_env.sh). A batch that
# fails is reported and the others still run; the NVML recorder never outlives the script.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh
BATCHES=${BATCHES:-8 64}
SECS=${SECONDS_PER_RUN:-20}
INTERVAL=${INTERVAL:-0.01}

require_torch_cuda gpu_power || exit 1
out=$(results_dir)/power || exit 1
mkdir -p "$out"
echo "gpu_power: $(gpu_name) -> $out (batches $BATCHES, $SECS s each, interval $INTERVAL s)" >&2

# The workload, kept with its results: 2 s idle, then alternating "prefill" (large bf16 matmuls) and
# "decode" (batch-sized matrix-vector work) phases marked with lowprof.mark, then 2 s idle. It imports
# lowprof through PYTHONPATH (the repo), from wherever it lies.
work=$out/power_workload.py
cat > "$work" <<'PY'
import sys, time, torch, lowprof
batch, secs = int(sys.argv[1]), float(sys.argv[2])
dev = torch.device("cuda")
w = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
x_pre = torch.randn(batch * 256, 8192, device=dev, dtype=torch.bfloat16)
x_dec = torch.randn(batch, 8192, device=dev, dtype=torch.bfloat16)
torch.cuda.synchronize()
with lowprof.mark("idle-before"):
    time.sleep(2)
end = time.monotonic() + secs
while time.monotonic() < end:
    with lowprof.mark("prefill"):
        for _ in range(20):
            y = x_pre @ w
        torch.cuda.synchronize()
    with lowprof.mark("decode"):
        for _ in range(400):
            y = x_dec @ w
        torch.cuda.synchronize()
with lowprof.mark("idle-after"):
    time.sleep(2)
PY

"$PY" -m lowprof.cli._nvml_record --out "$out/nvml-replay.jsonl" --seconds 8 --interval 0.05 \
    --note "idle then batch ${BATCHES%% *} matmul load (scripts/gpu_power.sh)" &
rec=$!
trap 'kill "$rec" 2>/dev/null; wait "$rec" 2>/dev/null' EXIT
failed=()
for b in $BATCHES; do
    "$PY" -m lowprof run --force --quiet --out "$out/batch-$b" --probes nvml,system --interval "$INTERVAL" -- \
        "$PY" "$work" "$b" "$SECS" || { echo "gpu_power: batch $b failed (exit $?); see $out/batch-$b" >&2; failed+=("$b"); }
done
wait "$rec" || echo "gpu_power: the NVML replay recorder failed (exit $?)" >&2

ok=()
for b in $BATCHES; do
    [ -f "$out/batch-$b/manifest.json" ] || continue
    COLUMNS=160 "$PY" -m lowprof power "$out/batch-$b" > "$out/power-batch-$b.txt" &&
    "$PY" -m lowprof power "$out/batch-$b" --json > "$out/power-batch-$b.json" &&
    COLUMNS=160 "$PY" -m lowprof power "$out/batch-$b" --average > "$out/power-batch-$b-average.txt" && ok+=("$b")
done
"$PY" - "$out" "${ok[@]}" <<'PY' | tee "$out/agreement.txt"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print("batch  device  counter J  integrated 1 s avg J (vs counter)  integrated instant J (vs counter)  "
      "sampler interval / missed ticks / CPU s")
nan = float("nan")
for b in sys.argv[2:]:
    s = json.loads((out / f"power-batch-{b}.json").read_text())
    m = json.loads((out / f"batch-{b}" / "manifest.json").read_text()).get("sampler", {})
    for dev, d in s["devices"].items():
        print(f"{b:>5}  {dev:6}  {d.get('energy_counter_j', nan):9.1f}"
              f"  {d.get('energy_integrated_average_j', nan):12.1f} ({d.get('energy_disagreement_average_percent', nan):+.2f}%)"
              f"  {d.get('energy_integrated_instant_j', nan):12.1f} ({d.get('energy_disagreement_instant_percent', nan):+.2f}%)"
              f"  {m.get('interval_s')} s / {m.get('missed_ticks')} / {m.get('cpu_s')}")
PY
[ ${#failed[@]} -eq 0 ] || { echo "gpu_power: failed batches: ${failed[*]}" >&2; exit 1; }
