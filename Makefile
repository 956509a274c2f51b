.PHONY: install run test test-fast replay lint typecheck check bench audit

# uv from PATH, else a private copy in .uv-venv: a venv of this Python, so the system Python is
# never written to (PEP 668 "externally managed" systems, no root needed).
PYTHON ?= python3
UV_VERSION := 0.13.9
UV_VENV := .uv-venv
UV := $(shell command -v uv 2>/dev/null || echo $(UV_VENV)/bin/uv)
# Passed to pytest by `make test`, e.g. PYTEST_ARGS="tests/unit -x".
PYTEST_ARGS ?=

install: $(UV)  ## create .venv with the locked dependencies (and uv itself when missing)
	$(UV) sync --frozen

$(UV_VENV)/bin/uv:
	@$(PYTHON) -m venv $(UV_VENV) || { echo "make: '$(PYTHON) -m venv' failed: on Debian/Ubuntu install python3-venv, or install uv (https://docs.astral.sh/uv/)" >&2; rm -rf $(UV_VENV); exit 1; }
	$(UV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

run: install  ## the service: API on :8000 + ETL every minute (embedded PostgreSQL unless DATABASE_URL)
	$(UV) run --frozen spacex-etl run

# Tests mostly wait (on PostgreSQL, subprocesses, the replay server): one worker per CPU, each with
# its own embedded server and databases, up to 4 (PYTEST_WORKERS=0 runs them in this process).
PYTEST_WORKERS ?= auto --maxprocesses 4

test: install  ## every test, on embedded PostgreSQL or TEST_DATABASE_URL; coverage printed and enforced
	$(UV) run --frozen pytest -n $(PYTEST_WORKERS) --cov $(PYTEST_ARGS)

test-fast: install  ## every test but the slow tier (end-to-end processes, bench smoke)
	$(UV) run --frozen pytest -n $(PYTEST_WORKERS) -m "not slow" --cov $(PYTEST_ARGS)

replay: install  ## the recorded data as the GraphQL API on :8081, for SPACEX_API_URL=http://127.0.0.1:8081/
	$(UV) run --frozen spacex-etl replay

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

typecheck: install
	$(UV) run --frozen mypy

check: lint typecheck test

bench: install  ## benchmarks: print tables, write bench/results/*.json
	$(UV) run --frozen python -m bench

audit: install  ## audit the locked dependencies; exit 3 when no advisory data is reachable
	$(UV) run --frozen python deploy/audit.py
