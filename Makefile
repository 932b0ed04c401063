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
# An Allure command to use instead of installing it from npm (CI passes its offline copy):
#   make report ALLURE=.allure/bin/allure   (.ci/run writes it: node …/allure-3.18.0/…/cli.js)
ALLURE ?=
# `make probe` (a Mac with Xcode): the development-signed BGProbe.ipa, team from the environment.
PROBE_DIR := suites/apps/BGProbe
PROBE_IPA ?= $(PROBE_DIR)/build/BGProbe.ipa

.PHONY: install device test bench report lint clean probe fuzz

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

# The harness's own tests: no device needed. They include tests/test_probekit.py: swift build and
# swift test of suites/apps/BGProbe (ProbeKit, the shell against its stand-ins, the conformance
# table), skipped with the reason where there is no Swift toolchain (BGHARNESS_REQUIRE_SWIFT=1
# makes that a failure, as CI does).
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
report: install $(if $(ALLURE),,$(ALLURE_STAMP))
	$(BIN)/bgharness report $(REPORT_RESULTS) --output reports/html $(if $(ALLURE),--allure "$(ALLURE)",)

# xcodegen + xcodebuild: archive and export a development-signed .ipa (get-task-allow, for the
# debugger bridge) to PROBE_IPA, the path devices.yaml's apps.BGProbe.path names.
probe:
	@command -v xcodebuild >/dev/null || { echo "make probe needs a Mac with Xcode (xcodebuild not found); on Linux, make test builds and tests ProbeKit with swift instead"; exit 1; }
	@command -v xcodegen >/dev/null || { echo "make probe needs xcodegen: brew install xcodegen"; exit 1; }
	@test -n "$$BGPROBE_TEAM" || { echo "make probe needs your Apple Developer team id: BGPROBE_TEAM=ABCDE12345 make probe"; exit 1; }
	cd $(PROBE_DIR) && xcodegen generate
	cd $(PROBE_DIR) && xcodebuild -project BGProbe.xcodeproj -scheme BGProbe -configuration Debug \
		-destination generic/platform=iOS -archivePath build/BGProbe.xcarchive archive \
		DEVELOPMENT_TEAM=$$BGPROBE_TEAM
	cd $(PROBE_DIR) && xcodebuild -exportArchive -archivePath build/BGProbe.xcarchive \
		-exportPath build -exportOptionsPlist ExportOptions.plist
	@echo "built $(PROBE_IPA)"

$(ALLURE_STAMP):
	@command -v npm >/dev/null || { echo "make report needs Node.js 20+ with npm: https://nodejs.org"; exit 1; }
	npm install --prefix .allure --no-audit --no-fund --save-exact allure@$(ALLURE_VERSION)
	@touch $@

# ruff (lint and format) on the code, mypy on the package (it ships py.typed); config in pyproject.
lint: install
	$(BIN)/ruff check harness tests suites
	$(BIN)/ruff format --check harness tests suites
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .allure reports/allure-results reports/artifacts reports/html reports/.state reports/observations.jsonl
