#!/usr/bin/env bash
# Issue 16, names: "run" meant four things. After this script:
#   lowprof.rundir.RunWriter   writes a run directory            (was RunDir; RunDir stays as a deprecated alias)
#   Recording.writer           a recording's RunWriter           (was Recording.run)
#   writer                     a local/attribute holding a RunWriter in the recorders, importers, bench writers
#   measure(gpu, quick)        a GPU benchmark module's entry    (was run(gpu, quick))
#   lowprof/native/allocator.py           the --allocator oob feature            (was oobmalloc_run.py)
#   lowprof/tracers/on_demand_recorder.py the recorder of --trace kernels --on-demand (was on_demand_run.py)
# Unchanged: lowprof.Run / lowprof.load (a loaded run: "run" in analysis/), the `lowprof run` verb, rundir/,
# "run clock".
#
# Idempotent: every rule matches only the old spelling, so running it again (e.g. on a branch merged after
# this one) changes only what still uses an old name. Usage, from anywhere in the repository:
#   scripts/renames_issue16.sh [STEP...]     STEP: runwriter writer measure modules (default: all, in that order)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
SELF=scripts/renames_issue16.sh

# Tracked and untracked-but-not-ignored text files, this script excluded.
text_files() {
  git ls-files -co --exclude-standard -- '*.py' '*.md' '*.sh' '*.toml' '*.cfg' '*.txt' '*.rst' '*.ini' 'Makefile' \
    | grep -v -x -F "$SELF" | while read -r f; do if [ -f "$f" ]; then echo "$f"; fi; done
}
# The files (of $@, or of every text file) that contain the Perl regex $1.
having() {
  local re=$1; shift
  if [ $# -eq 0 ]; then text_files; else printf '%s\n' "$@"; fi \
    | while read -r f; do if [ -f "$f" ] && grep -qP -- "$re" "$f"; then echo "$f"; fi; done
}
sub() {  # sub PERL_EXPR FILE...: in-place, only the files given that exist
  local expr=$1; shift
  local fs=()
  for f in "$@"; do [ -f "$f" ] && fs+=("$f"); done
  [ ${#fs[@]} -eq 0 ] || perl -pi -e "$expr" "${fs[@]}"
}
sub_all() {  # sub_all PERL_EXPR FILE...: whole-file (slurp) expression
  local expr=$1; shift
  local fs=()
  for f in "$@"; do [ -f "$f" ] && fs+=("$f"); done
  [ ${#fs[@]} -eq 0 ] || perl -0777 -pi -e "$expr" "${fs[@]}"
}

# 1. The class that creates and writes a run directory: RunDir -> RunWriter (RunDirError keeps its name; the
#    alias line in lowprof/rundir/__init__.py and its test carry the words "deprecated alias" and are skipped).
step_runwriter() {
  mapfile -t fs < <(having '\bRunDir\b')
  sub 's/\bRunDir\b/RunWriter/g unless /deprecated alias/' "${fs[@]}"
}

# 2. What holds a RunWriter is a "writer": Recording.run -> Recording.writer, and the locals, parameters and
#    attributes of the recorders, importers and bench writers. A loaded Run stays "run".
WRITER_FILES=(
  lowprof/record.py lowprof/marks.py
  lowprof/probes/sampler.py lowprof/probes/power_logs.py lowprof/probes/nvml_record.py
  lowprof/native/tlb_bench.py lowprof/native/oobmalloc_run.py lowprof/native/allocator.py
  lowprof/microbench/runner.py lowprof/microbench/host.py
  lowprof/tracers/importer.py lowprof/tracers/live.py lowprof/tracers/on_demand.py
  lowprof/tracers/on_demand_run.py lowprof/tracers/on_demand_recorder.py
  lowprof/tracers/pyspy.py lowprof/tracers/pystack_timeline.py
  bench/power_probe_cost.py docs/examples/window_fake_rapl.py
)
step_writer() {
  mapfile -t py < <(git ls-files -co --exclude-standard -- '*.py' | grep -v -x -F "$SELF")
  # a Recording's writer, wherever it is reached (rec.run, recording.run, self.recording.run)
  mapfile -t fs < <(having '\b(rec|recording)\.run\b' "${py[@]}")
  sub 's/\b(rec|recording)\.run\b/$1.writer/g' "${fs[@]}"
  # attributes holding a RunWriter
  sub 's/\bself\.run\b/self.writer/g' lowprof/record.py lowprof/probes/sampler.py lowprof/tracers/pyspy.py \
    lowprof/tracers/pystack_timeline.py
  sub 's/\bself\._rundir\b/self._writer/g' lowprof/tracers/trace_api.py
  # a TableWriter local named "writer" beside the RunWriter becomes "table" (before the RunWriter takes the name)
  sub_all 'if (/\bwriter = run\.table\(/) { s/\bwriter(?= = run\.table\()/table/g; s/\bwriter\.(extend|flush)\(/table.$1(/g }' \
    lowprof/native/tlb_bench.py lowprof/microbench/runner.py
  # locals and parameters holding a RunWriter, in the files where "run" is one; a def or class that takes or
  # loads a Run (``def section_x(run)``, ``run = load(...)``) is left as it is
  sub_all 'my @parts = split /(?=^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t])/m;
           for (@parts) {
             next if /\A[ \t]*def \w+\(run\)/ || /\brun\s*=\s*(?:lowprof\.)?load\(/;
             s/(?<![.\w])run(?=\s*=\s*(?:RunWriter|RunDir|recording\.writer)\b)/writer/g;
             s/(?<![.\w])run(?=\s*:\s*(?:RunWriter|RunDir)\b)/writer/g;
             s/(?<![.\w"\x27`-])run(?=\.(?:manifest|table|write_frame|save|flush|finish|abandon|clock|path|tables_dir)\b)/writer/g;
             s/(?<=\()run(?=[,)])/writer/g;
             s/(?<=\(self, )run(?=[,:)])/writer/g;
             s/(?<== )run(?=, )/writer/g;
             s/``run``(?=\x27s)/``writer``/g;
             s/(?<=into )``run``/``writer``/g;
           }
           $_ = join "", @parts;' "${WRITER_FILES[@]}"
  # a fake Recording in the tests
  sub 's/\bSimpleNamespace\(run=/SimpleNamespace(writer=/g' tests/test_live_trace.py
  # the test that finds manifest bootstraps by their text: it also knows the writer's name
  sub_all '$o = q{\bm = (rec\.)?run\.manifest|\bm = self\.run\.manifest}; $i = index($_, $o);
           substr($_, $i, length $o) = q{\bm = (rec\.|self\.)?(run|writer)\.manifest} if $i >= 0' \
    tests/test_manifest_sections.py
}

# 3. A GPU benchmark module's entry point: run(gpu, quick) -> measure(gpu, quick).
step_measure() {
  sub 's/^def run\(gpu\b/def measure(gpu/; s/:func:`run`/:func:`measure`/g' lowprof/microbench/benchmarks/*.py
  sub 's/\bmod\.run\(gpu\b/mod.measure(gpu/g' lowprof/microbench/runner.py
  sub 's/(``?)run\(gpu, quick=False\) -> list\[Result\]/$1measure(gpu, quick=False) -> list[Result]/g' \
    lowprof/microbench/registry.py docs/microbench.md
  mapfile -t fs < <(having '\b(instr|mod)\.run\b' tests/test_microbench_*.py)
  sub 's/\binstr\.run\(/instr.measure(/g; s/\bcallable\(mod\.run\)/callable(mod.measure)/g' "${fs[@]}"
}

# 4. Modules named for the `lowprof run` verb, named for what they are.
move() {  # move OLD NEW: git mv when OLD is still there and NEW is not
  if [ -f "$1" ] && [ ! -e "$2" ]; then git mv "$1" "$2"; fi
}
step_modules() {
  move lowprof/native/oobmalloc_run.py lowprof/native/allocator.py
  move lowprof/tracers/on_demand_run.py lowprof/tracers/on_demand_recorder.py
  mapfile -t fs < <(having '\b(oobmalloc_run|on_demand_run)\b')
  sub 's/\boobmalloc_run\.FEATURE,      #/allocator.FEATURE,          #/;
       s/\boobmalloc_run\b/allocator/g; s/\bon_demand_run\b/on_demand_recorder/g' "${fs[@]}"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(runwriter writer measure modules)
for s in "${steps[@]}"; do
  declare -F "step_$s" >/dev/null || { echo "renames_issue16: no step '$s' (have: runwriter writer measure modules)" >&2; exit 2; }
  "step_$s"
done
