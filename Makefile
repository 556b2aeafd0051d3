# Two commands do all the set-up: `make demo` and `make test` (both install first).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo_output
# Test files run in parallel, one worker each (pytest-xdist); a file's tests share its module fixtures.
TEST_WORKERS ?= 2

.PHONY: install demo test bench bench-peer clean

install: $(STAMP)

# Re-installs only when the pins or the package definition change.
$(STAMP): setup.py constraints.txt scripts/find_python.sh scripts/system_packages.sh
	@bash scripts/system_packages.sh
	@test -x $(PY) || $$(bash scripts/find_python.sh) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip<25" wheel "setuptools<76"
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	@touch $(STAMP)

demo: install
	$(VENV)/bin/wavegan demo --out $(DEMO_OUT)

test: install
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=25 tests

bench: install
	$(PY) bench/train_bench.py
	$(PY) bench/generate_bench.py
	$(PY) bench/ingest_bench.py
	$(PY) bench/pipeline_bench.py
	$(PY) bench/serve_bench.py

# The PyTorch peer of bench/train_bench.py, in its own environment (not a dependency of the product).
bench-peer:
	@test -x .venv-torch/bin/python || python3.11 -m venv .venv-torch || \
		PYENV_VERSION=$$(pyenv versions --bare | grep '^3\.11' | tail -1) python3.11 -m venv .venv-torch
	.venv-torch/bin/python -m pip install -q torch==2.13.0 "numpy<3"

clean:
	rm -rf $(VENV) .venv-torch $(DEMO_OUT) .pytest_cache
