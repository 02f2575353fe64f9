"""docker-compose.yml, checked without a Docker engine.

The file is parsed (YAML anchors and merge keys resolved), interpolated as Compose
would with an empty environment (the `${VAR:-default}` defaults), and validated
against the Compose Specification's JSON schema, which the check-jsonschema package
ships as a data file (compose-spec/compose-spec, Apache-2.0). Then what the schema
cannot know: every PULSE_* variable is a real setting and loads, commands parse with
the `pulse` CLI, bind mounts exist, Prometheus scrapes exactly the workers.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from engine.cli import build_parser
from tests.ops.support import ROOT, SETTINGS_VARIABLES, load_pulse_settings

COMPOSE = ROOT / "docker-compose.yml"
_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def compose_schema() -> dict[str, Any]:
    """The Compose Specification schema from check-jsonschema's vendored schemas.

    Located without importing check_jsonschema (only its data file is used).
    """
    spec = importlib.util.find_spec("check_jsonschema")
    assert spec is not None, "check-jsonschema is missing: `.venv/bin/pip install -e '.[dev]'`"
    assert spec.submodule_search_locations
    path = Path(spec.submodule_search_locations[0]) / "builtin_schemas/vendor/compose-spec.json"
    assert path.is_file(), f"no compose-spec.json in check-jsonschema ({path})"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation, recursively, for the given environment."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        present = name in env and (env[name] != "" or not (op or "").startswith(":"))
        if op in {":-", "-"}:
            return env[name] if present else arg
        if op in {":?", "?"}:
            if not present:
                pytest.fail(f"docker-compose.yml requires {name}: {arg}", pytrace=False)
            return env[name]
        if op in {":+", "+"}:
            return arg if present else ""
        return env.get(name, "")

    return _VARIABLE.sub(substitute, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    document: dict[str, Any] = interpolate(raw, {})
    return document


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = compose_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=str)
    ]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def pulse_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the Pulse image."""
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image", "").startswith("pulse:")
    }


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    errors = schema_errors(compose)
    assert not errors, "docker-compose.yml breaks the Compose Specification:\n" + "\n".join(errors)


def test_the_schema_check_rejects_a_broken_file(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["worker-1"]["helthcheck"] = broken["services"]["worker-1"].pop("healthcheck")
    broken["services"]["redis"]["ports"] = 6379
    errors = schema_errors(broken)
    assert any("helthcheck" in error for error in errors), errors
    assert any(error.startswith("services/redis/ports") for error in errors), errors


def test_the_stack_has_every_part(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert services["redis"]["image"].startswith("redis:")
    assert {"prometheus", "grafana", "topics", "simulator"} <= set(services)
    pulse = pulse_services(compose)
    commands = {name: service["command"][0] for name, service in pulse.items()}
    workers = sorted(name for name, command in commands.items() if command == "worker")
    assert len(workers) == 2, commands
    assert pulse["topics"]["command"][:2] == ["topics", "create"]
    assert pulse["simulator"]["command"][:2] == ["simulate", "--kafka"]
    assert pulse["simulator"]["profiles"] == ["simulate"]
    assert all("profiles" not in services[name] for name in workers)
    for name in workers:
        assert pulse[name]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service.get("image")
        assert image, f"service {name} names no image"
        repository, _, tag = image.rpartition(":")
        assert repository, f"service {name}: image {image!r} has no tag"
        assert tag not in {"", "latest"}, f"service {name}: image {image!r} is not pinned"
        assert "/" not in tag, f"service {name}: image {image!r} has no tag"
        if service.get("build"):
            assert image.startswith("pulse:"), f"service {name} builds something else: {image}"


def test_commands_parse_with_the_pulse_cli(compose: dict[str, Any]) -> None:
    parser = build_parser()
    for name, service in pulse_services(compose).items():
        try:
            parser.parse_args(service["command"])
        except SystemExit:
            pytest.fail(f"service {name}: `pulse {' '.join(service['command'])}` does not parse")


def test_pulse_variables_are_real_settings_and_load(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, service in pulse_services(compose).items():
        env = environment(service)
        unknown = sorted(
            key for key in env if key.startswith("PULSE_") and key not in SETTINGS_VARIABLES
        )
        assert not unknown, f"service {name}: not Pulse settings: {unknown}"
        settings = load_pulse_settings(env, monkeypatch)
        assert settings.kafka_bootstrap == "kafka:9092", name
        assert settings.topic_replication_factor == 1, name  # a single broker


def test_workers_serve_on_all_addresses_with_a_token_and_keep_state_on_a_volume(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    workers = {n: s for n, s in pulse_services(compose).items() if s["command"] == ["worker"]}
    volumes: set[str] = set()
    for name, service in workers.items():
        settings = load_pulse_settings(environment(service), monkeypatch)
        assert settings.web_host == "0.0.0.0", name  # noqa: S104 - what the container needs
        assert settings.api_token is not None, name
        assert settings.store == "rocksdb://", name
        assert settings.data_dir.name == settings.app_id, (
            f"{name}: PULSE_DATA_DIR must end with PULSE_APP_ID (RocksDB files are not "
            "named by app id; docs/operations.md, Resetting state)"
        )
        mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
        assert str(settings.data_dir.parent) in mounts, f"{name}: data dir not on a volume"
        volume = mounts[str(settings.data_dir.parent)]
        assert volume in compose["volumes"], f"{name}: {volume} is not a named volume"
        volumes.add(volume)
        probe = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{settings.web_port}/readyz" in probe, name
    assert len(volumes) == len(workers), "each worker needs its own data volume"


def test_bind_mounts_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"service {name} mounts missing {source}"


def test_prometheus_scrapes_exactly_the_workers(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    mounts = dict(reversed(m.split(":")[:2]) for m in services["prometheus"]["volumes"])
    config_path = mounts["/etc/prometheus/prometheus.yml"]
    config = yaml.safe_load((ROOT / config_path).read_text(encoding="utf-8"))
    for rule_file in config["rule_files"]:
        assert f"/etc/prometheus/{rule_file}" in mounts, f"{rule_file} is not mounted"
        assert mounts[f"/etc/prometheus/{rule_file}"] == "./deploy/prometheus/alerts.yml"
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "pulse-worker"]
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    expected = set()
    for name, service in pulse_services(compose).items():
        if service["command"] == ["worker"]:
            port = load_pulse_settings(environment(service), monkeypatch).web_port
            expected.add(f"{name}:{port}")
    assert targets == expected


def test_grafana_is_provisioned_with_the_dashboard(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = dict(reversed(m.split(":")[:2]) for m in grafana["volumes"])
    provisioning = ROOT / mounts["/etc/grafana/provisioning"]
    providers = yaml.safe_load((provisioning / "dashboards" / "pulse.yml").read_text())
    (provider,) = providers["providers"]
    dashboards = mounts[provider["options"]["path"]]
    assert (ROOT / dashboards / "pulse.json").is_file()
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == provider["options"]["path"] + "/pulse.json"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "9090:9090" in compose["services"]["prometheus"]["ports"]


def test_the_webhook_bridge_listens_beyond_loopback_with_secrets(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ((name, service),) = [
        (n, s) for n, s in pulse_services(compose).items() if s["command"] == ["ingest"]
    ]
    settings = load_pulse_settings(environment(service), monkeypatch)
    assert settings.ingest_host == "0.0.0.0", name  # noqa: S104 - what the container needs
    assert settings.stripe_webhook_secret is not None
    assert settings.segment_webhook_secret is not None
    assert f"{settings.ingest_port}:{settings.ingest_port}" in service["ports"]
    assert f"127.0.0.1:{settings.ingest_port}/healthz" in " ".join(service["healthcheck"]["test"])
    assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
