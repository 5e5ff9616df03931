# The two commands of the README. Both create or refresh .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lowprof-installed
DEMO   := lowprof-runs/demo
# One pytest worker per core and one more: many tests wait on a workload's sleep or a child process, so one
# worker more keeps the cores busy (2 cores: 2 workers 124 s, 3 workers 114 s, the same 1063 tests).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))

.PHONY: demo test venv bench clean

venv: $(STAMP)

# Re-install when the project's metadata or native sources change (the C helpers build at install).
$(STAMP): pyproject.toml setup.py $(wildcard lowprof/native/*.c lowprof/native/*.h lowprof/native/*_build.py)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lowprof run --force --out $(DEMO) -- $(BIN)/python -m lowprof.workloads.demo
	$(BIN)/lowprof report $(DEMO)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

bench: $(STAMP)
	for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info lowprof-runs
