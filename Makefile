# The two commands (run as root): `make conformance` and `make test`. Both set up what they need.
PY := .venv/bin/python
PYTEST := .venv/bin/pytest
REPORT := --html=reports/report.html --self-contained-html --junitxml=reports/junit.xml

.PHONY: setup conformance test lint bench

setup:
	@bash scripts/setup

conformance: setup
	$(PYTEST) suites/ $(REPORT) $(PYTEST_ARGS)

test: setup lint
	$(PYTEST) tests/ suites/ --durations=15 --html=reports/tests.html --self-contained-html --junitxml=reports/tests-junit.xml $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .

bench: setup
	$(PY) -m benchmarks.run
