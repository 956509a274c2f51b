.PHONY: install run test test-fast lint typecheck check bench

# uv from PATH, or the one `install` puts into this Python on a machine that has none.
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
UV_VERSION := 0.13.9

install:  ## create .venv with the locked dependencies (installs uv first if missing)
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen

run: install  ## the service: API on :8000 + ETL every minute (embedded PostgreSQL unless DATABASE_URL)
	$(UV) run spacex-etl run

test: install  ## every test, on embedded PostgreSQL or TEST_DATABASE_URL; coverage printed and enforced
	$(UV) run pytest --cov

test-fast: install  ## every test but the slow tier (end-to-end processes, bench smoke)
	$(UV) run pytest -m "not slow" --cov

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .

typecheck: install
	$(UV) run mypy

check: lint typecheck test

bench: install  ## benchmarks: print tables, write bench/results/*.json
	$(UV) run python -m bench
