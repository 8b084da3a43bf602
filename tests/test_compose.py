"""compose.yaml and the Dockerfile, checked as files: no Docker engine runs where tests run.

What `docker compose up` would trip over first is checked here: a missing service or health
check, a dependency on a service that does not exist, a build context, Dockerfile, COPY source,
mounted file or command module that is not in the repository, an image that is not an official
one, a setting name the app does not read, or a secret written into the file.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from settings import ROOT, Settings

COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
REQUIRED = {"api", "bridge", "feed", "migrate", "postgres", "redis", "kafka"}
OFFICIAL_IMAGES = {"postgres", "redis", "apache/kafka", "nginx"}
SETTING_NAMES = {name.upper() for name in Settings.model_fields}
SECRET_NAMES = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
REQUIRED_VARIABLE = re.compile(r"\$\{[A-Z_]+:\?[^}]+\}")
DEPENDENCY_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def load_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    data = load_compose()
    assert isinstance(data.get("services"), dict), "compose.yaml has no services"
    found: dict[str, dict[str, Any]] = data["services"]
    return found


def app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services that run Trado's own image."""
    return {name: spec for name, spec in services.items() if "build" in spec}


def depends_on(spec: dict[str, Any]) -> dict[str, str]:
    raw = spec.get("depends_on", {})
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (opts or {}).get("condition", "service_started") for name, opts in raw.items()}


def one_shots(services: dict[str, dict[str, Any]]) -> set[str]:
    """Services the others wait for to *finish*: they need no health check."""
    return {
        name
        for spec in services.values()
        for name, condition in depends_on(spec).items()
        if condition == "service_completed_successfully"
    }


def test_every_service_the_stack_needs_is_there(services: dict[str, dict[str, Any]]) -> None:
    assert services.keys() >= REQUIRED, f"missing: {sorted(REQUIRED - services.keys())}"


def test_two_api_replicas(services: dict[str, dict[str, Any]]) -> None:
    replicas = services["api"].get("deploy", {}).get("replicas", 1)
    assert replicas >= 2
    assert "ports" not in services["api"], "replicas cannot share a host port: publish the lb"


def test_each_service_has_a_health_check_or_is_a_one_shot(
    services: dict[str, dict[str, Any]],
) -> None:
    finishing = one_shots(services)
    for name, spec in services.items():
        if name in finishing:
            assert spec.get("restart", "no") == "no", f"{name} runs once: it must not restart"
            continue
        check = spec.get("healthcheck")
        assert check, f"{name} has no health check"
        assert not check.get("disable"), f"{name} disables its health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
    assert "migrate" in finishing, "the services wait for migrations to complete"


def test_dependencies_name_existing_services_with_known_conditions(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, spec in services.items():
        for dependency, condition in depends_on(spec).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            assert condition in DEPENDENCY_CONDITIONS, f"{name} -> {dependency}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no health check"


def test_images_are_official_and_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, spec in services.items():
        if "build" in spec:
            continue
        image, _, tag = spec["image"].partition(":")
        assert image in OFFICIAL_IMAGES, f"{name}: {image} is not an official image"
        assert tag not in ("", "latest"), f"{name}: pin a version of {image}"


def test_build_contexts_and_their_dockerfiles_exist(services: dict[str, dict[str, Any]]) -> None:
    built = app_services(services)
    assert {"api", "bridge", "feed", "migrate"} <= built.keys()
    for name, spec in built.items():
        build = spec["build"] if isinstance(spec["build"], dict) else {"context": spec["build"]}
        context = (ROOT / build["context"]).resolve()
        assert context.is_dir(), f"{name}: no build context {context}"
        assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name


def command_path(command: list[str]) -> Path | None:
    """The file a `python -m pkg.mod` or `python file.py` command runs."""
    if command[:2] == ["python", "-m"]:
        module = ROOT / Path(*command[2].split("."))
        return module / "__main__.py" if module.is_dir() else module.with_suffix(".py")
    if command[0] == "python":
        return ROOT / command[1]
    return None


def test_app_commands_and_health_checks_run_code_that_exists(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, spec in app_services(services).items():
        commands = [spec["command"]] if "command" in spec else []
        if "healthcheck" in spec:
            commands.append(spec["healthcheck"]["test"][1:])
        for command in commands:
            path = command_path(command)
            assert path is not None, f"{name}: {command} is not a python command"
            assert path.is_file(), f"{name}: {command} runs nothing"


def test_mounted_files_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, spec in services.items():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_app_environment_uses_only_settings_the_app_reads(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, spec in app_services(services).items():
        environment = spec.get("environment", {})
        assert isinstance(environment, dict), f"{name}: write environment as a mapping"
        unknown = environment.keys() - SETTING_NAMES
        assert not unknown, f"{name} sets {sorted(unknown)}, which settings.Settings lacks"
        assert {"DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS"} <= environment.keys()


def test_the_api_runs_in_production_without_developer_tools(
    services: dict[str, dict[str, Any]],
) -> None:
    """GraphiQL, introspection, /docs and /metrics stay off unless `.env` turns them on."""
    environment = services["api"]["environment"]
    assert environment["ENVIRONMENT"] == "production"
    for name in ("GRAPHIQL", "INTROSPECTION", "API_DOCS", "METRICS_ENDPOINT"):
        assert environment.get(name, f"${{{name}:-false}}") == f"${{{name}:-false}}", name
    assert "server_tokens off;" in (ROOT / "deploy" / "nginx.conf").read_text()


def test_no_secret_is_written_into_the_file(services: dict[str, dict[str, Any]]) -> None:
    for name, spec in services.items():
        for variable, value in (spec.get("environment") or {}).items():
            if SECRET_NAMES.search(variable):
                assert REQUIRED_VARIABLE.fullmatch(str(value)), (
                    f"{name}: {variable} must come from .env as ${{{variable}:?...}}"
                )
        url = (spec.get("environment") or {}).get("DATABASE_URL", "")
        if url:
            password = url.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
            assert REQUIRED_VARIABLE.fullmatch(password), f"{name}: password in DATABASE_URL"
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".env" in ignored, "compose reads secrets from .env: it must stay out of git"


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_copies_only_what_exists() -> None:
    copies = [args for instruction, args in dockerfile_instructions() if instruction == "COPY"]
    assert copies
    for args in copies:
        parts = [part for part in shlex.split(args) if not part.startswith("--")]
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def test_dockerfile_runs_the_api_as_a_non_root_user_with_a_health_check() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [args for instruction, args in instructions if instruction == "USER"]
    assert users, "the image must not run as root"
    assert users[-1] not in ("root", "0"), "the image must not run as root"
    assert ("CMD", '["python", "server.py"]') in instructions
    healthcheck = next(args for instruction, args in instructions if instruction == "HEALTHCHECK")
    check = command_path(json.loads(healthcheck.split(" CMD ", 1)[1]))
    assert check is not None, healthcheck
    assert check.is_file(), healthcheck
    syncs = [args for instruction, args in instructions if "uv sync" in args]
    assert syncs
    assert all("--frozen" in a and "--no-dev" in a for a in syncs)


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".git", ".venv", ".services", ".data"} <= ignored


def test_the_load_balancer_passes_websockets_to_the_api(
    services: dict[str, dict[str, Any]],
) -> None:
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    lb = services["lb"]
    assert "/etc/nginx/templates/" in lb["volumes"][0], "the image renders deploy/nginx.conf"
    assert "${TRADO_API_SERVERS}" in config
    assert lb["environment"]["TRADO_API_SERVERS"] == "server api:8000;", "to the api service"
    assert "proxy_set_header Upgrade $http_upgrade" in config, "subscriptions need upgrades"
    assert "proxy_buffering off;" in config, "SSE and multipart frames as they are written"
    assert services["lb"]["depends_on"]["api"]["condition"] == "service_healthy"
