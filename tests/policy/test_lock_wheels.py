"""uv.lock installs from wheels on every platform the README promises, for every Python we support.

`make install` (and the Docker image, Python 3.11 on Linux amd64 and arm64) install with
`uv sync --frozen`: a package with no wheel for the machine means a compiler, or a failure. This
walks the locked dependency graph from the project (runtime and dev groups) once per target,
evaluating the locked markers there, and asserts each package it reaches has a wheel that target
can install.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker

LOCK = Path(__file__).resolve().parents[2] / "uv.lock"
PYTHONS = ("3.11", "3.12", "3.13", "3.14")
PLATFORMS: dict[str, tuple[dict[str, str], str]] = {
    # name: (marker environment, wheel platform tag pattern)
    "linux-x86_64": (
        {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"},
        r"manylinux[\w]*_x86_64",
    ),
    "linux-aarch64": (
        {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64"},
        r"manylinux[\w]*_aarch64",
    ),
    "macos-arm64": (
        {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"},
        r"macosx_\d+_\d+_(arm64|universal2)",
    ),
    "macos-x86_64": (
        {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "x86_64"},
        r"macosx_\d+_\d+_(x86_64|universal2|intel)",
    ),
}

Package = dict[str, Any]


def _environment(python: str, platform: dict[str, str]) -> dict[str, str]:
    return {
        **platform,
        "python_version": python,
        "python_full_version": f"{python}.0",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }


def _wheel_fits(filename: str, python: str, platform_pattern: str) -> bool:
    pythons, abis, platforms = filename.removesuffix(".whl").split("-")[-3:]
    minor = int(python.split(".")[1])
    for tag in pythons.split("."):
        for abi in abis.split("."):
            interpreter = (
                tag in ("py3", f"py3{minor}")
                or (tag == f"cp3{minor}" and abi in ("none", f"cp3{minor}"))
                or (abi == "abi3" and tag.startswith("cp3") and int(tag[3:]) <= minor)
            )
            if interpreter and any(
                plat == "any" or re.fullmatch(platform_pattern, plat)
                for plat in platforms.split(".")
            ):
                return True
    return False


def _locked() -> tuple[Package, dict[tuple[str, str], Package], dict[str, list[Package]]]:
    packages: list[Package] = tomllib.loads(LOCK.read_text())["package"]
    by_name: dict[str, list[Package]] = {}
    for package in packages:
        by_name.setdefault(package["name"], []).append(package)
    [project] = by_name["spacex-etl"]
    return project, {(p["name"], p["version"]): p for p in packages}, by_name


def _reached(python: str, platform: dict[str, str]) -> list[Package]:
    """The packages `uv sync` installs for this target (runtime + dev), from the lock alone."""
    project, by_version, by_name = _locked()
    env = _environment(python, platform)
    reached: dict[tuple[str, str], Package] = {}

    def visit(dependency: dict[str, Any]) -> None:
        if "marker" in dependency and not Marker(dependency["marker"]).evaluate(env):
            return
        candidates = (
            [by_version[(dependency["name"], dependency["version"])]]
            if "version" in dependency
            else by_name[dependency["name"]]
        )
        for package in candidates:
            key = (package["name"], package["version"])
            if key not in reached:
                reached[key] = package
                for child in package.get("dependencies", []):
                    visit(child)
                for extra in dependency.get("extra", []):
                    for child in package.get("optional-dependencies", {}).get(extra, []):
                        visit(child)

    for dependency in project["dependencies"] + project["dev-dependencies"]["dev"]:
        visit(dependency)
    return list(reached.values())


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("python", PYTHONS)
def test_every_locked_package_has_a_wheel_for(python: str, platform: str) -> None:
    environment, pattern = PLATFORMS[platform]
    reached = _reached(python, environment)
    missing = [
        f"{p['name']} {p['version']}"
        for p in reached
        if not any(_wheel_fits(w["url"].rsplit("/", 1)[1], python, pattern) for w in p["wheels"])
    ]
    assert len(reached) > 40  # the walk found the graph (runtime and dev dependencies)
    assert not missing, f"no wheel for Python {python} on {platform}: {missing}"


def test_the_wheel_matcher_refuses_what_does_not_fit() -> None:
    linux = PLATFORMS["linux-x86_64"][1]
    manylinux = "manylinux_2_17_x86_64.manylinux2014_x86_64"
    assert _wheel_fits(f"x-1-cp312-cp312-{manylinux}.whl", "3.12", linux)
    assert not _wheel_fits("x-1-cp312-cp312-manylinux_2_17_x86_64.whl", "3.13", linux)
    assert not _wheel_fits("x-1-cp313-cp313t-manylinux_2_17_x86_64.whl", "3.13", linux)
    assert _wheel_fits("x-1-cp36-abi3-manylinux_2_17_x86_64.whl", "3.14", linux)
    assert not _wheel_fits("x-1-cp36-abi3-musllinux_1_2_x86_64.whl", "3.14", linux)
    assert not _wheel_fits("x-1-py3-none-macosx_11_0_arm64.whl", "3.11", linux)
    assert _wheel_fits("x-1-py3-none-any.whl", "3.11", linux)
