# bgharness: `make device` runs the device suites, `make test` the harness's own tests.
# Both install into .venv first; `make install` is quick when nothing changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_DEVICE_ARGS ?=
# `make report`: Allure's own command-line tool (the npm package `allure`; Node.js 20+), pinned
# and installed into this checkout, and the allure-results folders to merge.
ALLURE_VERSION ?= 3.18.0
ALLURE_STAMP   := .allure/.installed-$(ALLURE_VERSION)
REPORT_RESULTS ?= reports/allure-results

.PHONY: install device test bench report lint clean fuzz

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

# The nightly's long fuzzing (devices.yaml, lease and state files, ...): thousands of cases each.
fuzz: install
	$(BIN)/pytest tests -m fuzz_long

# Benchmarks: figures go to benchmarks.json (and are quoted in the README), never asserted.
bench: install
	$(BIN)/python tests/bench/run.py

# The HTML report (reports/html/index.html) from REPORT_RESULTS: one allure-results folder, or
# several (a nightly's downloaded artifacts), merged; `bgharness report --help` says more.
report: install $(ALLURE_STAMP)
	$(BIN)/bgharness report $(REPORT_RESULTS) --output reports/html

$(ALLURE_STAMP):
	@command -v npm >/dev/null || { echo "make report needs Node.js 20+ with npm: https://nodejs.org"; exit 1; }
	npm install --prefix .allure --no-audit --no-fund --save-exact allure@$(ALLURE_VERSION)
	@touch $@

lint: install
	$(BIN)/ruff check harness tests suites
	$(BIN)/ruff format --check harness tests suites

clean:
	rm -rf $(VENV) .allure reports/allure-results reports/artifacts reports/html reports/.state
