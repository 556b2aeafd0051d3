# Two commands do all the set-up: `make demo` and `make test` (both install first).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo_output

.PHONY: install demo test bench clean

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
	$(PY) -m pytest -q tests

bench: install
	$(PY) bench/train_bench.py
	$(PY) bench/generate_bench.py
	$(PY) bench/ingest_bench.py
	$(PY) bench/pipeline_bench.py
	$(PY) bench/serve_bench.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
