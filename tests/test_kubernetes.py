"""deploy/kubernetes: rendered by the real `kubectl kustomize`, validated against schemas.

Core kinds are validated by kubernetes-validate (strict: unknown fields fail) against the
Kubernetes versions in KUBERNETES_VERSIONS; the Prometheus Operator and KEDA objects
against models generated from their CRDs (tests/crd_schemas.py says which and why). The
rest are the invariants the manifests must keep with each other, with the worker's own
settings loader, the Dockerfile and deploy/alert-rules.yml.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from streamproc.config import load_settings

from . import crd_schemas
from .test_deploy_files import _dockerfile

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "deploy" / "kubernetes"
ALERT_RULES = REPO / "deploy" / "alert-rules.yml"

# The oldest Kubernetes the manifests are claimed for (policy/v1 PDBs, seccompProfile and
# topologySpreadConstraints are older), and a recent one.
KUBERNETES_VERSIONS = ("1.29.0", "1.33.0")
CORE_KINDS = {"Deployment", "PodDisruptionBudget", "ConfigMap", "Secret", "ServiceAccount"}
CUSTOM_KINDS = {"PodMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication"}

# What the worker's SIGTERM checkpoint takes (README "Lifecycle"), and a margin over it.
SIGTERM_CHECKPOINT_SECONDS = 20
GRACE_MARGIN_SECONDS = 10


# -- rendering ----------------------------------------------------------------------------------
def _kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        message = ("kubectl not found (Debian package `kubernetes-client`; scripts/test.sh "
                   "installs it)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _render(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run([_kubectl(), "kustomize", str(directory)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return _render(BASE)


def _one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


def _secret(docs: list[dict[str, Any]], prefix: str) -> dict[str, str]:
    (doc,) = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"].startswith(prefix)]
    return {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}


def _pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return _one(docs, "Deployment")["spec"]["template"]["spec"]


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = _pod(docs)["containers"]
    return container


def _config_text(docs: list[dict[str, Any]]) -> str:
    return _one(docs, "ConfigMap")["data"]["config.yaml"]


def _trigger(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (trigger,) = _one(docs, "ScaledObject")["spec"]["triggers"]
    return trigger


def _literal_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


# -- schemas --------------------------------------------------------------------------------------
def test_the_base_renders_these_objects(rendered: list[dict[str, Any]]) -> None:
    kinds = sorted(d["kind"] for d in rendered)
    assert kinds == sorted([*CORE_KINDS, "Secret", *CUSTOM_KINDS]), kinds  # two Secrets


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_objects_are_valid_kubernetes(rendered: list[dict[str, Any]], version: str) -> None:
    for doc in rendered:
        if doc["kind"] in CORE_KINDS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{doc['kind']} {doc['metadata']['name']} (Kubernetes {version}): "
                            f"{'.'.join(map(str, exc.path))}: {exc.message}")


def test_custom_resources_match_their_crds(rendered: list[dict[str, Any]]) -> None:
    for doc in rendered:
        if doc["kind"] in CUSTOM_KINDS:
            assert crd_schemas.check(doc) == [], doc["kind"]


def test_the_kafka_trigger_uses_documented_parameters(rendered: list[dict[str, Any]]) -> None:
    trigger = _trigger(rendered)
    assert trigger["type"] == "kafka"
    for key, value in trigger["metadata"].items():
        assert key in crd_schemas.KAFKA_TRIGGER_METADATA, f"unknown kafka trigger key {key}"
        allowed = crd_schemas.KAFKA_TRIGGER_METADATA[key]
        assert isinstance(value, str), f"trigger metadata values are strings: {key}"
        assert allowed is None or value in allowed, f"{key}: {value!r} not in {sorted(allowed)}"
    auth = _one(rendered, "TriggerAuthentication")["spec"]["secretTargetRef"]
    assert {ref["parameter"] for ref in auth} <= crd_schemas.KAFKA_AUTH_PARAMETERS


def test_the_schema_checks_can_fail(rendered: list[dict[str, Any]]) -> None:
    """Controls: a misspelt field and a bad value are reported, in both kinds of check."""
    scaled = copy.deepcopy(_one(rendered, "ScaledObject"))
    scaled["spec"]["maxReplicaCont"] = 6
    scaled["spec"]["triggers"][0]["authenticationRef"]["nmae"] = "x"
    assert set(crd_schemas.check(scaled)) == {
        "unknown field spec.maxReplicaCont", "unknown field spec.triggers[0].authenticationRef.nmae"
    }
    monitor = copy.deepcopy(_one(rendered, "PodMonitor"))
    monitor["spec"]["podMetricsEndpoints"][0]["interval"] = "15 seconds"
    assert any("interval" in p for p in crd_schemas.check(monitor))
    deployment = copy.deepcopy(_one(rendered, "Deployment"))
    _container([deployment])["securityContext"]["readOnlyRootFilesytem"] = True
    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFilesytem"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


# -- the pod --------------------------------------------------------------------------------------
def test_probes_use_livez_and_readyz_on_the_metrics_port(rendered: list[dict[str, Any]]) -> None:
    container = _container(rendered)
    (port,) = container["ports"]
    assert port["name"] == "metrics" and port["containerPort"] == 9464
    env = _literal_env(container)
    assert env["STREAMPROC_METRICS_HOST"] == "0.0.0.0"
    assert int(env["STREAMPROC_METRICS_PORT"]) == port["containerPort"]
    paths = {"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"}
    for probe, path in paths.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path and get["port"] in ("metrics", 9464), probe
    startup = container["startupProbe"]
    # The first start (broker check, topic creation, state restore) gets a minute at least.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


def test_the_pod_runs_as_the_images_non_root_user(rendered: list[dict[str, Any]]) -> None:
    pod, container = _pod(rendered), _container(rendered)
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    user = _dockerfile("USER")[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric non-root uid"
    assert (security["runAsUser"], security["runAsGroup"]) == (int(uid), int(gid or uid))
    (useradd,) = [run for run in _dockerfile("RUN") if "useradd" in run]
    assert f"--uid {uid}" in useradd and f"--gid {gid}" in useradd
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"] and "add" not in context["capabilities"]
    assert pod["automountServiceAccountToken"] is False


def test_what_the_process_writes_goes_to_writable_volumes(rendered: list[dict[str, Any]]) -> None:
    """With a read-only root: no bytecode, and HOME and matplotlib's cache on an emptyDir."""
    pod, container = _pod(rendered), _container(rendered)
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    writable = [m["mountPath"] for m in container["volumeMounts"]
                if m["name"] in empty_dirs and not m.get("readOnly")]
    assert "/tmp" in writable
    env = _literal_env(container)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    for name in ("HOME", "MPLCONFIGDIR"):
        assert any(env[name] == p or env[name].startswith(p + "/") for p in writable), name
    image_env = " ".join(_dockerfile("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in image_env and "MPLCONFIGDIR=/tmp/" in image_env


def test_requests_and_limits_fit_one_worker_process(rendered: list[dict[str, Any]]) -> None:
    resources = _container(rendered)["resources"]
    assert resources["requests"]["cpu"] == "1", "one worker process uses one core"
    for kind in ("cpu", "memory"):
        assert kind in resources["requests"] and kind in resources["limits"]
    mebibytes = {"Mi": 1, "Gi": 1024}
    request, limit = (int(v[:-2]) * mebibytes[v[-2:]] for v in
                      (resources["requests"]["memory"], resources["limits"]["memory"]))
    assert 1024 <= request <= limit, "2,000 models of 10 features are ~1.3 GB of monitors"


def test_shutdown_and_spread(rendered: list[dict[str, Any]]) -> None:
    pod = _pod(rendered)
    assert pod["terminationGracePeriodSeconds"] >= SIGTERM_CHECKPOINT_SECONDS + GRACE_MARGIN_SECONDS
    keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
    assert "kubernetes.io/hostname" in keys
    labels = _one(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    for constraint in pod["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert "replicas" not in _one(rendered, "Deployment")["spec"], "KEDA owns the replica count"


def test_disruption_budget_takes_one_worker_at_a_time(rendered: list[dict[str, Any]]) -> None:
    budget = _one(rendered, "PodDisruptionBudget")["spec"]
    assert budget["maxUnavailable"] == 1
    labels = _one(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()


# -- configuration and credentials ---------------------------------------------------------------
def test_the_config_file_is_mounted_and_passed(rendered: list[dict[str, Any]]) -> None:
    pod, container = _pod(rendered), _container(rendered)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    config = mounts["/etc/streamproc/config.yaml"]
    assert config["readOnly"] and config["subPath"] == "config.yaml"
    assert volumes[config["name"]]["configMap"]["name"] == _one(rendered, "ConfigMap")[
        "metadata"]["name"]
    assert container["args"] == ["worker", "--config", "/etc/streamproc/config.yaml"]
    secrets = mounts["/etc/streamproc/secrets"]
    assert secrets["readOnly"] is True
    assert volumes[secrets["name"]]["secret"]["defaultMode"] & 0o222 == 0, "read-only files"


def test_secret_files_the_config_names_are_in_the_secret(rendered: list[dict[str, Any]]) -> None:
    kafka = yaml.safe_load(_config_text(rendered))["kafka"]
    secret = _secret(rendered, "streamproc-kafka")
    files = [v["file"] for v in kafka.values() if isinstance(v, dict) and "file" in v]
    assert files, "the password is read from a file, not written in the config"
    for path in files:
        directory, _, key = path.rpartition("/")
        assert directory == "/etc/streamproc/secrets" and key in secret, path
    for key, value in {**secret, **_secret(rendered, "streamproc-state-key")}.items():
        if "password" in key or "key" in key:
            assert value.startswith("REPLACE-ME"), f"{key}: only a marked placeholder is committed"


def test_the_config_loads_as_the_pod_would(rendered: list[dict[str, Any]], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """streamproc's own loader reads the ConfigMap's file with the Deployment's environment."""
    data = yaml.safe_load(_config_text(rendered))
    # The Secret's files, mounted where the pod mounts them: here, under tmp_path.
    secret = _secret(rendered, "streamproc-kafka")
    for prop, value in data.get("kafka", {}).items():
        if isinstance(value, dict) and "file" in value:
            mounted = tmp_path / Path(value["file"]).name
            mounted.write_text(secret[Path(value["file"]).name])
            data["kafka"][prop] = {"file": str(mounted)}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    for name in [n for n in os.environ if n.startswith("STREAMPROC_")]:
        monkeypatch.delenv(name)
    container = _container(rendered)
    for name, value in _literal_env(container).items():
        monkeypatch.setenv(name, value)
    state_key = _secret(rendered, "streamproc-state-key")["state.key"]
    monkeypatch.setenv("STREAMPROC_STATE_KEY", state_key)
    settings = load_settings(path)
    assert settings.metrics_host == "0.0.0.0"
    assert settings.metrics_port == container["ports"][0]["containerPort"]
    assert settings.state_key_bytes() is not None
    assert settings.partitions >= 1 and settings.replication_factor >= 1
    assert settings.kafka_properties()["sasl.password"] == secret["sasl.password"]
    # The pod's bounds (README "Sizing"), loaded as the ConfigMap states them.
    assert (settings.max_models, settings.model_idle_seconds) == (
        data["max_models"], data["model_idle_seconds"])


def test_keda_scales_the_workers_group_within_the_partitions(
    rendered: list[dict[str, Any]],
) -> None:
    config = yaml.safe_load(_config_text(rendered))
    scaled = _one(rendered, "ScaledObject")["spec"]
    assert scaled["scaleTargetRef"]["name"] == _one(rendered, "Deployment")["metadata"]["name"]
    assert scaled["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert scaled["minReplicaCount"] == 1
    assert scaled["maxReplicaCount"] <= config["partitions"], "a worker beyond them idles"
    metadata = _trigger(rendered)["metadata"]
    assert metadata["bootstrapServers"] == config["broker"]
    assert metadata["consumerGroup"] == config.get("group_id", "streamproc")
    assert metadata["topic"] == config.get("features_topic", "features")
    assert int(metadata["lagThreshold"]) > 0
    assert metadata["offsetResetPolicy"] == "earliest", "the worker's auto.offset.reset"


def test_keda_authenticates_as_the_worker(rendered: list[dict[str, Any]]) -> None:
    kafka = yaml.safe_load(_config_text(rendered))["kafka"]
    metadata = _trigger(rendered)["metadata"]
    protocol = kafka.get("security.protocol", "PLAINTEXT")
    assert metadata.get("tls", "disable") == ("enable" if protocol.endswith("SSL") else "disable")
    mechanism = kafka.get("sasl.mechanism", "").lower().replace("-", "_")
    if protocol.startswith("SASL"):
        assert metadata["sasl"] == mechanism.replace("scram_sha_", "scram_sha")
        auth = _one(rendered, "TriggerAuthentication")
        assert _trigger(rendered)["authenticationRef"]["name"] == auth["metadata"]["name"]
        secret = _secret(rendered, "streamproc-kafka")
        refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
        assert secret[refs["username"]["key"]] == kafka["sasl.username"]
        assert refs["password"]["key"] == kafka["sasl.password"]["file"].rpartition("/")[2]
        names = {r["name"] for r in refs.values()}
        assert names == {next(d["metadata"]["name"] for d in rendered if d["kind"] == "Secret"
                              and d["metadata"]["name"].startswith("streamproc-kafka"))}


def test_a_name_prefix_reaches_every_reference(tmp_path: Path) -> None:
    """kustomizeconfig.yaml: KEDA's references follow renames, as built-in kinds' do."""
    base = tmp_path / "base"
    shutil.copytree(BASE, base)
    kustomization = base / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "\nnamePrefix: team-a-\n")
    docs = _render(base)
    names = {d["kind"]: d["metadata"]["name"] for d in docs if d["kind"] != "Secret"}
    assert all(name.startswith("team-a-") for name in names.values())
    scaled = _one(docs, "ScaledObject")["spec"]
    assert scaled["scaleTargetRef"]["name"] == names["Deployment"]
    assert scaled["triggers"][0]["authenticationRef"]["name"] == names["TriggerAuthentication"]
    secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    for ref in _one(docs, "TriggerAuthentication")["spec"]["secretTargetRef"]:
        assert ref["name"] in secrets
    assert _pod(docs)["serviceAccountName"] == names["ServiceAccount"]


# -- monitoring -----------------------------------------------------------------------------------
def _generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "gen_prometheus_rule", REPO / "scripts" / "gen_prometheus_rule.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_prometheus_rule_is_generated_from_the_rules_file(
    rendered: list[dict[str, Any]],
) -> None:
    generated = _generator().render(ALERT_RULES.read_text(encoding="utf-8"))
    committed = (BASE / "prometheusrule.yaml").read_text(encoding="utf-8")
    assert committed == generated, "run: python scripts/gen_prometheus_rule.py"
    rule = _one(rendered, "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(ALERT_RULES.read_text())["groups"]


def test_the_generator_follows_an_edited_rules_file() -> None:
    rules = yaml.safe_load(ALERT_RULES.read_text())
    rules["groups"][0]["rules"][0]["for"] = "7m"
    manifest = yaml.safe_load(_generator().render(yaml.safe_dump(rules)))
    assert manifest["spec"]["groups"][0]["rules"][0]["for"] == "7m"
    assert crd_schemas.check(manifest) == []


def test_the_pod_monitor_scrapes_the_job_the_rules_watch(rendered: list[dict[str, Any]]) -> None:
    monitor = _one(rendered, "PodMonitor")["spec"]
    labels = _one(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert monitor["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = monitor["podMetricsEndpoints"]
    assert endpoint["port"] == _container(rendered)["ports"][0]["name"]
    assert endpoint.get("path", "/metrics") == "/metrics"
    job = labels[monitor["jobLabel"]]
    jobs = set(re.findall(r'job="([^"]+)"', ALERT_RULES.read_text()))
    assert jobs == {job}, f"the rules watch {jobs}, the PodMonitor's job is {job!r}"
