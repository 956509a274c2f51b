"""Dependency audit that cannot report clean without advisory data.

pip-audit prints "No known vulnerabilities found" and exits 0 even when it could not look a
single package up (no network to its advisory service, or a package index mirror that has no
vulnerability data): every package just gets a `skip_reason`. So this audit first asks about
a canary, a release with many published advisories; if the service reports nothing for it, the
advisory data is unreachable and the audit fails with exit code 3. Then it audits the locked
runtime dependencies (uv.lock, hashes included) and fails on any vulnerability (exit 1) or any
package it could not audit (exit 3).

    uv run python deploy/audit.py            # AUDIT_SERVICE=osv to ask OSV instead of PyPI
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# Django 2.2.0 (2019) has dozens of published advisories on PyPI and OSV alike.
CANARY = "django==2.2.0"
EXIT_CLEAN, EXIT_VULNERABLE, EXIT_ERROR, EXIT_NO_DATA = 0, 1, 2, 3


def verdict(canary: dict[str, Any], audit: dict[str, Any], service: str) -> tuple[int, str]:
    """Exit code and message from pip-audit's JSON for the canary and for our dependencies."""
    if not sum(len(dep.get("vulns", [])) for dep in canary.get("dependencies", [])):
        return EXIT_NO_DATA, (
            f"ADVISORY DATA UNREACHABLE: {service} reported nothing for {CANARY}, which has "
            "published advisories. The dependencies were NOT audited."
        )
    deps = audit.get("dependencies", [])
    skipped = [f"{d['name']}: {d['skip_reason']}" for d in deps if d.get("skip_reason")]
    vulnerable = [
        f"{d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v.get('fix_versions', []))})"
        for d in deps
        for v in d.get("vulns", [])
    ]
    if vulnerable:
        return EXIT_VULNERABLE, "VULNERABLE:\n  " + "\n  ".join(vulnerable)
    if skipped:
        return EXIT_NO_DATA, "NOT AUDITED (no advisory data):\n  " + "\n  ".join(skipped)
    return (
        EXIT_CLEAN,
        f"{len(deps)} locked packages audited against {service}: no known vulnerabilities",
    )


def _pip_audit(requirements: Path, service: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "pip_audit", "-r", str(requirements), "--disable-pip",
         "--no-deps", "--progress-spinner", "off", "--format", "json",
         "--vulnerability-service", service],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"dependencies": [], "error": tail[0]}
    return report


def main() -> int:
    service = os.environ.get("AUDIT_SERVICE", "pypi")
    with tempfile.TemporaryDirectory() as tmp:
        canary = Path(tmp, "canary.txt")
        canary.write_text(CANARY + "\n")
        locked = Path(tmp, "requirements.txt")
        # uv from PATH, or the one `make install` put into this Python as a module.
        uv = [shutil.which("uv") or "python3", *([] if shutil.which("uv") else ["-m", "uv"])]
        exported = subprocess.run(
            [*uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-header",
             "--format", "requirements-txt", "-o", str(locked)],
            check=False, capture_output=True, text=True,
        )  # fmt: skip
        if exported.returncode != 0:
            print(f"!! cannot export the locked dependencies: {exported.stderr}", file=sys.stderr)
            return EXIT_ERROR
        code, message = verdict(_pip_audit(canary, service), _pip_audit(locked, service), service)
    print(("!! " if code else "") + message, file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
