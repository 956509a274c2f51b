#!/usr/bin/env bash
# The deployment checks that need the tools themselves. The contract of docker-compose.yml and
# deploy/Dockerfile (the Compose Specification schema, roles, start order, the required database
# password, one pinned base image, the build context, hadolint) lives in
# tests/unit/test_deployment.py, run by `make test` with no Docker tool at all. This script adds:
#   1. where a compose tool is installed, compose's own rendering: docker-compose.yml refuses to
#      render without POSTGRES_PASSWORD and passes `config -q` for the default profile, `offline`
#      and `tracing` (skipped with a message elsewhere, as on CI machines);
#   2. uv.lock matches pyproject.toml (the image installs with `uv sync --frozen`);
#   3. where a Docker daemon answers, the image builds (skipped with a message elsewhere).
# Uses `docker compose` (v2 plugin) or `docker-compose`; installs nothing. Runs every check,
# prints each result, exits 1 if any failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly COMPOSE_FILE=docker-compose.yml
readonly DOCKERFILE=deploy/Dockerfile

failures=0
passed=0

log() { printf '==> %s\n' "$*"; }

# run_check DESCRIPTION COMMAND...: run one check, report it, keep going on failure.
run_check() {
  local description=$1
  shift
  log "check: ${description}"
  if "$@"; then
    printf '    ok\n'
    passed=$((passed + 1))
  else
    printf '    FAILED: %s\n' "${description}" >&2
    failures=$((failures + 1))
  fi
}

compose=()
find_compose() {
  # `docker compose config` is client-side only, but the docker CLI may lack the compose plugin.
  if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
  else
    return 1
  fi
}

skipped=0
if find_compose; then
  log "compose tool: ${compose[*]} ($("${compose[@]}" version --short 2>/dev/null || echo unknown))"
else
  log "SKIPPED: compose's own rendering: neither 'docker compose' (plugin) nor 'docker-compose' is installed"
  skipped=4
fi

if [[ ${skipped} -eq 0 ]]; then
  # The database password has no default: without it, compose must refuse with a clear message.
  password_required() {
    local output
    if output=$(env -u POSTGRES_PASSWORD "${compose[@]}" -f "${COMPOSE_FILE}" config -q 2>&1); then
      printf '    compose accepted a missing POSTGRES_PASSWORD\n' >&2
      return 1
    fi
    grep -q "set POSTGRES_PASSWORD" <<<"${output}"
  }

  run_check "${COMPOSE_FILE} refuses to start without POSTGRES_PASSWORD" \
    password_required
  # A placeholder for the checks below only: compose needs the variable to render the file.
  export POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-check-only-placeholder}"
  run_check "${COMPOSE_FILE} is valid (default profile)" \
    "${compose[@]}" -f "${COMPOSE_FILE}" config -q
  run_check "${COMPOSE_FILE} is valid (--profile offline)" \
    "${compose[@]}" -f "${COMPOSE_FILE}" --profile offline config -q
  run_check "${COMPOSE_FILE} is valid (--profile tracing)" \
    "${compose[@]}" -f "${COMPOSE_FILE}" --profile tracing config -q
fi
run_check "uv.lock is up to date with pyproject.toml" \
  uv lock --check --quiet

# A real build where a Docker daemon answers (for this machine's platform; the lock's wheels for
# amd64 and arm64 are checked by tests/policy/test_lock_wheels.py).
if docker info >/dev/null 2>&1; then
  run_check "docker build -f ${DOCKERFILE} (this platform)" \
    docker build --quiet -f "${DOCKERFILE}" -t spacex-etl:check .
else
  log "SKIPPED: docker build: no Docker daemon answers"
  skipped=$((skipped + 1))
fi

printf 'deploy checks: %d ok, %d not ok, %d skipped\n' "${passed}" "${failures}" "${skipped}"
[[ ${failures} -eq 0 ]]
