"""deploy/k8s, checked without a cluster.

Every manifest is validated against the Kubernetes JSON schemas that the
kubernetes-validate package bundles, in strict mode (unknown fields are errors),
for the oldest and newest versions we support. Then what a schema cannot know: the
settings the pods would get load with Pulse's own loader, the rules and signals
files in the ConfigMap load with Pulse's loaders, probes, ports, selectors and
volumes line up, and kustomization.yaml lists every manifest.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from engine.cli import build_parser
from engine.settings import Settings
from engine.signals_files import read_config, read_rules
from tests.ops.support import ROOT, SETTINGS_VARIABLES, load_pulse_settings

K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
NOT_APPLIED = {"secret.example.yaml"}


def manifests() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                yield path.name, document


def resource(kind: str, name: str) -> dict[str, Any]:
    found = [d for _, d in manifests() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def validation_errors(document: dict[str, Any], version: str) -> list[str]:
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = "/".join(map(str, error.absolute_path)) or "(root)"
        return [f"{where}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [error.message]
    return []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_match_the_kubernetes_schemas(version: str) -> None:
    errors = [
        f"{file} {doc['kind']}/{doc['metadata']['name']}: {message}"
        for file, doc in manifests()
        for message in validation_errors(doc, version)
    ]
    assert not errors, f"invalid for Kubernetes {version}:\n" + "\n".join(errors)


def test_the_schema_check_rejects_a_misspelt_field() -> None:
    broken = copy.deepcopy(resource("StatefulSet", "pulse-worker"))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGett"] = container["readinessProbe"].pop("httpGet")
    errors = validation_errors(broken, KUBERNETES_VERSIONS[-1])
    assert errors
    assert "httpGett" in errors[0], errors


def test_every_kind_the_deployment_needs_is_there() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in manifests()}
    assert {
        ("StatefulSet", "pulse-worker"),
        ("PodDisruptionBudget", "pulse-worker"),
        ("Service", "pulse-api"),
        ("Service", "pulse-worker"),
        ("ConfigMap", "pulse-settings"),
        ("ConfigMap", "pulse-signals"),
        ("Secret", "pulse-secrets"),
        ("Job", "pulse-topics-create"),
    } <= kinds


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == files - NOT_APPLIED
    images = {image["name"] for image in kustomization["images"]}
    used = {c["image"].split(":")[0] for c in containers()}
    assert used <= images, "every image should be settable in kustomization.yaml"


def pod_specs() -> dict[str, dict[str, Any]]:
    return {
        doc["kind"]: doc["spec"]["template"]["spec"]
        for _, doc in manifests()
        if doc["kind"] in {"StatefulSet", "Job"}
    }


def containers() -> list[dict[str, Any]]:
    return [c for spec in pod_specs().values() for c in spec["containers"]]


def container_env(pod: dict[str, Any], container: dict[str, Any], mounted: Path) -> dict[str, str]:
    """The container's environment as the kubelet builds it (Secret from the example),
    with paths under the signals ConfigMap's mount moved to ``mounted``."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(resource("ConfigMap", source["configMapRef"]["name"])["data"])
        if "secretRef" in source:
            env.update(resource("Secret", source["secretRef"]["name"])["stringData"])
    for item in container.get("env", []):
        assert "value" in item, f"env {item['name']}: use envFrom, or extend this test"
        env[item["name"]] = item["value"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        config_map = volumes.get(mount["name"], {}).get("configMap")
        if config_map is None:
            continue
        for key, text in resource("ConfigMap", config_map["name"])["data"].items():
            (mounted / key).write_text(text, encoding="utf-8")
        prefix = mount["mountPath"].rstrip("/") + "/"
        env = {
            k: str(mounted / v[len(prefix) :]) if v.startswith(prefix) else v
            for k, v in env.items()
        }
    return env


@pytest.mark.parametrize("kind", ["StatefulSet", "Job"])
def test_pods_get_settings_that_load(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod = pod_specs()[kind]
    for container in pod["containers"]:
        env = container_env(pod, container, tmp_path)
        unknown = sorted(k for k in env if k.startswith("PULSE_") and k not in SETTINGS_VARIABLES)
        assert not unknown, f"{kind} {container['name']}: not Pulse settings: {unknown}"
        settings = load_pulse_settings(env, monkeypatch)  # files named must exist in the pod
        assert settings.rules_file is not None
        assert settings.signals_config_file is not None
        rules = read_rules(settings.rules_file)
        assert rules.rules, "the rules file leaves no rule"
        config = read_config(settings.signals_config_file)
        assert config.usage.core_features, "adoption rules need core features"
        try:
            build_parser().parse_args(container["args"])
        except SystemExit:
            pytest.fail(f"{kind}: `pulse {' '.join(container['args'])}` does not parse")


def worker() -> tuple[dict[str, Any], dict[str, Any], Settings]:
    statefulset = resource("StatefulSet", "pulse-worker")
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    data = resource("ConfigMap", "pulse-settings")["data"]
    settings = Settings.model_construct(
        **{k.removeprefix("PULSE_").lower(): v for k, v in data.items()}
    )
    return statefulset, container, settings


def test_workers_probe_ready_and_alive_on_the_web_port() -> None:
    _, container, settings = worker()
    assert settings.web_host == "0.0.0.0", "a pod's API must listen beyond loopback"  # noqa: S104
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == int(settings.web_port)
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["args"] == ["worker"]


def test_workers_keep_rocksdb_on_their_own_volume() -> None:
    statefulset, container, settings = worker()
    assert settings.store == "rocksdb://"
    data_dir = Path(str(settings.data_dir))
    assert data_dir.name == settings.app_id, (
        "PULSE_DATA_DIR must end with PULSE_APP_ID (RocksDB files are not named by app id)"
    )
    claims = {t["metadata"]["name"] for t in statefulset["spec"]["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts.get(str(data_dir.parent)) in claims, "the data dir is not on a claim"
    pod = statefulset["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]


def test_workers_scale_up_to_the_partition_count() -> None:
    statefulset, _, settings = worker()
    assert 1 <= statefulset["spec"]["replicas"] <= int(settings.topic_partitions)
    if int(settings.table_standby_replicas) > 0:
        assert statefulset["spec"]["replicas"] >= 2, "standbys need a second worker"


def test_services_and_budget_select_the_workers() -> None:
    statefulset, container, _ = worker()
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert statefulset["spec"]["selector"]["matchLabels"].items() <= labels.items()
    port_names = {p["name"] for p in container["ports"]}
    for name in ("pulse-api", "pulse-worker"):
        service = resource("Service", name)
        assert service["spec"]["selector"].items() <= labels.items(), name
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names, name
    assert resource("Service", "pulse-worker")["spec"]["clusterIP"] == "None"
    assert statefulset["spec"]["serviceName"] == "pulse-worker"
    budget = resource("PodDisruptionBudget", "pulse-worker")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["maxUnavailable"] == 1
    annotations = statefulset["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(
        next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
    )


def test_secrets_stay_out_of_the_configmap() -> None:
    data = resource("ConfigMap", "pulse-settings")["data"]
    secret = resource("Secret", "pulse-secrets")["stringData"]
    must_be_secret = {
        "PULSE_KAFKA_SASL_PASSWORD",
        "PULSE_REDIS_URL",
        "PULSE_API_TOKEN",
        "PULSE_API_WRITE_TOKEN",
    }
    assert must_be_secret <= set(secret)
    assert not must_be_secret & set(data)


def test_the_webhook_bridge_gets_its_settings_secrets_service_and_probes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = resource("Deployment", "pulse-ingest")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert build_parser().parse_args(container["args"]).command == "ingest"
    settings = load_pulse_settings(container_env(pod, container, tmp_path), monkeypatch)
    assert settings.ingest_host == "0.0.0.0"  # noqa: S104 - what the pod needs
    assert settings.stripe_webhook_secret is not None
    assert settings.segment_webhook_secret is not None
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == settings.ingest_port
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = resource("Service", "pulse-ingest")
    assert service["spec"]["selector"].items() <= labels.items()
    assert labels["app.kubernetes.io/component"] == "ingest"  # never selected as a worker
    data = resource("ConfigMap", "pulse-settings")["data"]
    assert not {"PULSE_STRIPE_WEBHOOK_SECRET", "PULSE_SEGMENT_WEBHOOK_SECRET"} & set(data)
