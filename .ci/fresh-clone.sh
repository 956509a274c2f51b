#!/usr/bin/env bash
# The README's two commands on a clean machine: a fresh clone, no uv on PATH, and a "system"
# Python without pip whose site-packages must stay untouched (as on PEP 668 systems, where
# `pip install` into the system Python is refused). For each CPython 3.11+ found here:
# `make install` and a start/stop of the embedded PostgreSQL; for the first one also `make test`
# (a quick selection: the full suite runs in CI already) and `make run` against the replay server
# until the data mart answers the reference counts, then Ctrl-C, and no server may be left.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/spacex-etl-fresh-XXXXXX")
background=()
cleanup() {
  for pid in "${background[@]}"; do kill -INT -- "-${pid}" 2>/dev/null || true; done
  rm -rf "${work}"
}
trap cleanup EXIT

log() { printf '==> %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# postgres processes whose data folder is under $1 (the leak check).
servers_under() { ps -eo args= | grep -F -- "-D $1" | grep -cv grep || true; }

# The machine's network settings (proxies, CA bundles, package index) carry over: they are
# how this machine reaches the registries, not something the project installs.
network=()
while IFS= read -r assignment; do
  network+=("${assignment}")
done < <(env | grep -E '^([A-Za-z_]*(proxy|PROXY)|SSL_CERT_[A-Z]*|[A-Z_]*CA_BUNDLE|PIP_[A-Z_]*|UV_(INDEX|DEFAULT_INDEX|EXTRA_INDEX)[A-Z_]*|UV_NATIVE_TLS)=' || true)

# In the clean environment: only the given Python's bin, and the system's base tools.
clean() {
  local python_bin=$1
  shift
  env -i HOME="${HOME}" LANG=C.UTF-8 PATH="${python_bin}:/usr/bin:/bin" "${network[@]}" \
    UV_PYTHON="${python_bin}/python" "$@"
}

interpreters=()
for version in 3.11 3.12 3.13 3.14; do
  # On PATH, or installed by pyenv but not activated (its shims then refuse to run it).
  for candidate in "python${version}" "${PYENV_ROOT:-${HOME}/.pyenv}"/versions/"${version}".*/bin/python"${version}"; do
    if real=$("${candidate}" -c 'import sys; print(sys.executable)' 2>/dev/null); then
      interpreters+=("${version}:${real}")
      break
    fi
  done
done
[[ ${#interpreters[@]} -gt 0 ]] || fail "no CPython 3.11+ found"
first=${interpreters[0]%%:*}

for entry in "${interpreters[@]}"; do
  version=${entry%%:*}
  log "Python ${version} (${entry#*:}): fresh clone, no uv, no pip"
  python_env="${work}/python${version}"
  "${entry#*:}" -m venv --without-pip "${python_env}"
  site_before=$(ls -R "${python_env}/lib")
  clone="${work}/clone${version}"
  git clone --quiet "${repo}" "${clone}"
  cd "${clone}"
  clean "${python_env}/bin" sh -c '! command -v uv' || fail "uv is on the clean PATH"
  clean "${python_env}/bin" sh -c '! python -m pip --version' 2>/dev/null \
    || fail "the clean Python has pip"

  clean "${python_env}/bin" make install
  [[ $(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])') == "${version}" ]] \
    || fail ".venv is not Python ${version}"

  if [[ ${version} != "${first}" ]]; then
    clean "${python_env}/bin" .venv/bin/spacex-etl migrate
  else
    # A selection: the coverage floor is for the whole suite, so it is off here.
    clean "${python_env}/bin" make test PYTEST_ARGS="--no-cov -q -p no:cacheprovider tests/unit tests/e2e/test_embedded_lifecycle.py"

    replay_port=$(free_port)
    api_port=$(free_port)
    # Each in a session of its own, whose id (its leader's pid) the leader writes down.
    clean "${python_env}/bin" setsid sh -c 'echo $$ >"$0"; exec "$@"' "${work}/replay.group" \
      .venv/bin/spacex-etl replay --port "${replay_port}" >"${work}/replay.log" 2>&1 &
    clean "${python_env}/bin" setsid sh -c 'echo $$ >"$0"; exec "$@"' "${work}/run.group" \
      env API_PORT="${api_port}" ETL_INTERVAL_SECONDS=3600 \
      SPACEX_API_URL="http://127.0.0.1:${replay_port}/" make run >"${work}/run.log" 2>&1 &
    run_job=$!
    until [[ -s ${work}/replay.group && -s ${work}/run.group ]]; do sleep 0.1; done
    background+=("$(cat "${work}/replay.group")")
    run_group=$(cat "${work}/run.group")
    background+=("${run_group}")
    log "make run: waiting for the reference counts on :${api_port}"
    # `spacex-etl replay` serves the live profile by default: its shipped reference counts.
    python3 - "${api_port}" "${clone}/src/spacex_etl/replay/data/live/reference_counts.json" <<'PY' \
      || { cat "${work}/run.log" >&2; fail "make run never served the reference counts"; }
import json, sys, time, urllib.request
port, expected = sys.argv[1], json.load(open(sys.argv[2]))
deadline = time.monotonic() + 180
while time.monotonic() < deadline:
    try:
        url = f"http://127.0.0.1:{port}/data_mart/object_url_count"
        with urllib.request.urlopen(url, timeout=5) as response:
            if json.load(response) == expected:
                print("    data mart:", expected)
                sys.exit(0)
    except OSError:
        pass
    time.sleep(1)  # a poll with a deadline: the service tells nothing else
sys.exit(1)
PY
    kill -INT -- "-${run_group}"  # Ctrl-C, as in a terminal: the whole foreground group
    wait "${run_job}" || true
    grep -q "scheduler stopped" "${work}/run.log" || { cat "${work}/run.log" >&2; fail "no clean shutdown"; }
  fi

  [[ $(servers_under "${clone}") -eq 0 ]] || fail "an embedded server outlived its command"
  [[ $(ls -R "${python_env}/lib") == "${site_before}" ]] || fail "the system Python was written to"
  cd "${repo}"
  log "Python ${version}: ok"
done
echo "fresh clone: make install and the embedded server on Python ${interpreters[*]%%:*}; make test and make run on ${first}"
