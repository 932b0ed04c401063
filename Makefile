# bgharness: `make device` runs the device suites, `make test` the harness's own tests.
# Both install into .venv first; `make install` is quick when nothing changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_DEVICE_ARGS ?=

.PHONY: install device test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "bgharness needs Python 3.11 or newer; set PYTHON=python3.11 (or newer) and run make again")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# The device suites against devices.yaml (the virtual iPhone by default); Allure results in reports/.
device: install
	$(BIN)/pytest -m device suites --alluredir=reports/allure-results --clean-alluredir $(PYTEST_DEVICE_ARGS)

# The harness's own tests: no device needed.
test: install
	$(BIN)/pytest tests

# Benchmarks: figures go to benchmarks.json (and are quoted in the README), never asserted.
bench: install
	$(BIN)/python tests/bench/run.py

lint: install
	$(BIN)/ruff check harness tests suites
	$(BIN)/ruff format --check harness tests suites

clean:
	rm -rf $(VENV) reports/allure-results reports/artifacts reports/html reports/.state
