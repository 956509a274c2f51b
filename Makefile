.PHONY: install run test lint typecheck check bench

install:  ## create .venv with the locked dependencies
	uv sync --frozen

run: install  ## the service: API on :8000 + ETL every minute (embedded PostgreSQL unless DATABASE_URL)
	uv run spacex-etl run

test: install  ## every test, on embedded PostgreSQL or TEST_DATABASE_URL
	uv run pytest

lint: install
	uv run ruff check .
	uv run ruff format --check .

typecheck: install
	uv run mypy

check: lint typecheck test

bench: install  ## benchmarks: print tables, write bench/results/*.json
	uv run python -m bench
