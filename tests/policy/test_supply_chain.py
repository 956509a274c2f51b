"""Secrets stay out of git, images and tracebacks; the audit cannot report clean blind."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.version import Version

from spacex_etl.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _audit_module() -> Any:
    spec = importlib.util.spec_from_file_location("audit", ROOT / "deploy" / "audit.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_env_is_git_ignored_and_the_example_lists_every_setting() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, check=False)
    assert ignored.returncode == 0
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, re.M))
    assert {name.upper() for name in Settings.model_fields} <= listed
    copied = Settings(_env_file=ROOT / ".env.example")  # `cp .env.example .env` just works
    assert copied.jwt_secret is None
    assert copied.etl_run_budget_seconds is None


def test_images_run_as_non_root() -> None:
    users = re.findall(r"^USER\s+(\S+)", (ROOT / "deploy/Dockerfile").read_text(), re.M)
    assert users
    assert int(users[-1].split(":")[0]) > 0
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "nginxinc/nginx-unprivileged" in compose


def test_compose_has_no_default_database_password() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "POSTGRES_PASSWORD:-" not in compose
    assert compose.count("${POSTGRES_PASSWORD:?") == 2  # the server and the app's URL


def test_typer_lower_bound_excludes_versions_that_print_locals() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (typer,) = [Requirement(r) for r in project["dependencies"] if r.startswith("typer")]
    assert not typer.specifier.contains(Version("0.22.0"))  # last release printing locals


def test_a_crashing_command_never_prints_the_password() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "spacex_etl", "migrate"],
        env={"DATABASE_URL": "postgresql://u:tb-secret-pw@127.0.0.1:9/db", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "tb-secret-pw" not in done.stdout + done.stderr


def test_the_audit_fails_when_it_has_no_advisory_data() -> None:
    audit = _audit_module()
    # What pip-audit answered on a machine that reaches no advisory service (exit code 0!).
    blind = {"dependencies": [{"name": "django", "skip_reason": "Dependency not found on PyPI"}]}
    canary = {"dependencies": [{"name": "django", "version": "2.2.0", "vulns": [{"id": "X"}]}]}
    ours_skipped = {"dependencies": [{"name": "httpx", "skip_reason": "not found"}]}
    ours_vulnerable = {
        "dependencies": [
            {"name": "httpx", "version": "0.1", "vulns": [{"id": "PYSEC-1", "fix_versions": ["9"]}]}
        ]
    }
    ours_clean = {"dependencies": [{"name": "httpx", "version": "0.28", "vulns": []}]}

    assert audit.verdict(blind, ours_clean, "pypi")[0] == audit.EXIT_NO_DATA
    assert audit.verdict(canary, ours_skipped, "pypi")[0] == audit.EXIT_NO_DATA
    code, message = audit.verdict(canary, ours_vulnerable, "pypi")
    assert code == audit.EXIT_VULNERABLE
    assert "PYSEC-1" in message
    assert audit.verdict(canary, ours_clean, "pypi")[0] == audit.EXIT_CLEAN
