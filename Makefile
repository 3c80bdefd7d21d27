# The two commands (run as root): `make conformance` and `make test`. Both set up what they need.
PY := .venv/bin/python
PYTEST := .venv/bin/pytest
REPORT := --html=reports/report.html --self-contained-html --junitxml=reports/junit.xml
# Parallel workers (pytest-xdist): labs mostly wait on protocol timers, so a 2-core machine
# runs four well. JOBS=0 runs serially.
JOBS ?= 4
PARALLEL := $(if $(filter 0,$(JOBS)),,-n $(JOBS))

.PHONY: setup conformance test lint bench lock

setup:
	@bash scripts/setup

conformance: setup
	$(PYTEST) suites/ $(PARALLEL) $(REPORT) $(PYTEST_ARGS)

test: setup lint
	$(PYTEST) tests/ suites/ $(PARALLEL) --durations=15 --html=reports/tests.html --self-contained-html --junitxml=reports/tests-junit.xml $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .

bench: setup
	$(PY) -m benchmarks.run

# Refresh requirements.lock after a change to pyproject.toml (newest versions its ranges allow).
lock:
	rm -rf .venv-lock && python3 -m venv .venv-lock && .venv-lock/bin/pip install -q pip-tools==7.7.0
	.venv-lock/bin/pip-compile -q --generate-hashes --extra dev --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links -o requirements.lock pyproject.toml
	rm -rf .venv-lock
