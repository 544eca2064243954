"""Rendered overlays: schemas, workload security, probes, scaling, networking and Kafka resources."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from shared.topics import ALL_TOPICS, POLLER_LEADER
from tests.deploy.conftest import (
    DEPLOY,
    SERVICES,
    Resource,
    container_env,
    named,
    of_kind,
    service_of,
    workloads,
)

# The oldest Kubernetes release still commonly run (preStop sleep needs 1.30) and the newest
# kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
CRD_SCHEMAS = {
    "KafkaTopic": "kafkatopic.json",
    "KafkaUser": "kafkauser.json",
    "ScaledObject": "scaledobject.json",
    "TriggerAuthentication": "triggerauthentication.json",
    "ServiceMonitor": "servicemonitor.json",
    "PrometheusRule": "prometheusrule.json",
}
CONSUMER_GROUPS = {
    "poller": "greenguard-poller",
    "enricher": "greenguard-enricher",
    "notifier": "greenguard-notifier",
}
# KAFKA_SASL_MECHANISM of the services to the sasl mode of KEDA's Kafka scaler.
KEDA_SASL_MODES = {
    "SCRAM-SHA-512": "scram_sha512",
    "SCRAM-SHA-256": "scram_sha256",
    "PLAIN": "plaintext",
}


def pod_spec(workload: Resource) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def test_every_kind_has_a_schema(overlay: list[Resource]) -> None:
    for resource in overlay:
        if resource["kind"] in CRD_SCHEMAS:
            continue
        kubernetes_validate.validate(resource, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_builtin_kinds_match_kubernetes_schema(overlay: list[Resource], version: str) -> None:
    for resource in overlay:
        if resource["kind"] not in CRD_SCHEMAS:
            kubernetes_validate.validate(resource, version, strict=True)


def test_custom_resources_match_crd_schemas(overlay: list[Resource]) -> None:
    kinds_seen = set()
    for resource in overlay:
        file_name = CRD_SCHEMAS.get(resource["kind"])
        if file_name is None:
            continue
        schema = json.loads((DEPLOY / "schemas" / file_name).read_text(encoding="utf-8"))
        jsonschema.validate(resource, schema, cls=jsonschema.Draft202012Validator)
        kinds_seen.add(resource["kind"])
    assert kinds_seen == set(CRD_SCHEMAS)


def test_crd_schemas_reject_unknown_fields() -> None:
    schema = json.loads((DEPLOY / "schemas" / "scaledobject.json").read_text(encoding="utf-8"))
    typo = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {"scaleTargetRef": {"name": "x"}, "maxReplicas": 3, "triggers": []},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(typo, schema, cls=jsonschema.Draft202012Validator)


def test_one_workload_per_process(overlay: list[Resource]) -> None:
    assert sorted(service_of(w) for w in workloads(overlay)) == sorted(SERVICES)


def test_workloads_run_restricted(overlay: list[Resource]) -> None:
    for workload in workloads(overlay):
        name = workload["metadata"]["name"]
        pod = pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        assert not pod.get("hostNetwork"), name
        assert not pod.get("hostPID"), name
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in context["capabilities"], name
            assert context["seccompProfile"]["type"] == "RuntimeDefault", name
            assert not context.get("privileged"), name


def test_service_account_mounts_no_token(overlay: list[Resource]) -> None:
    accounts = of_kind(overlay, "ServiceAccount")
    assert accounts
    for account in accounts:
        assert account["automountServiceAccountToken"] is False
    for workload in workloads(overlay):
        assert pod_spec(workload)["serviceAccountName"] in {a["metadata"]["name"] for a in accounts}


def test_workloads_have_probes_and_resources(overlay: list[Resource]) -> None:
    for workload in workloads(overlay):
        name = workload["metadata"]["name"]
        container = pod_spec(workload)["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{name} {kind}"


def test_image_is_set_by_overlay(overlay: list[Resource]) -> None:
    for workload in workloads(overlay):
        image = pod_spec(workload)["containers"][0]["image"]
        assert re.fullmatch(r"[^:@\s]+/[^:@\s]+(:[\w.-]+|@sha256:[0-9a-f]{64})", image), image


def test_grace_period_exceeds_shutdown_grace(overlay: list[Resource]) -> None:
    for workload in workloads(overlay):
        pod = pod_spec(workload)
        container = pod["containers"][0]
        env = container_env(overlay, container)
        shutdown_grace = float(env.get("SHUTDOWN_GRACE_SECONDS", 20))
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {})
        needed = shutdown_grace + pre_stop.get("seconds", 0)
        assert pod["terminationGracePeriodSeconds"] > needed, workload["metadata"]["name"]


def test_pods_spread_across_zones_and_nodes(overlay: list[Resource]) -> None:
    for workload in workloads(overlay):
        constraints = pod_spec(workload)["topologySpreadConstraints"]
        keys = {c["topologyKey"] for c in constraints}
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        selector = workload["spec"]["selector"]["matchLabels"]
        for constraint in constraints:
            assert constraint["labelSelector"]["matchLabels"] == selector


def test_every_workload_has_a_disruption_budget(overlay: list[Resource]) -> None:
    budgets = of_kind(overlay, "PodDisruptionBudget")
    for workload in workloads(overlay):
        selector = workload["spec"]["selector"]["matchLabels"]
        matching = [b for b in budgets if b["spec"]["selector"]["matchLabels"] == selector]
        assert len(matching) == 1, workload["metadata"]["name"]


def test_ingest_scales_on_cpu_from_two(overlay: list[Resource]) -> None:
    autoscaler = named(overlay, "HorizontalPodAutoscaler", "greenguard-ingest")
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == "greenguard-ingest"
    assert autoscaler["spec"]["minReplicas"] >= 2
    assert [m["resource"]["name"] for m in autoscaler["spec"]["metrics"]] == ["cpu"]
    assert "replicas" not in named(overlay, "Deployment", "greenguard-ingest")["spec"]
    budget = named(overlay, "PodDisruptionBudget", "greenguard-ingest")
    assert budget["spec"]["minAvailable"] < autoscaler["spec"]["minReplicas"]


def parse_nginx_size(value: str) -> int:
    """Return the bytes of an nginx size such as 1m, 512k or 1048576."""
    units = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", value)
    assert match, f"not an nginx size: {value!r}"
    return int(match.group(1)) * units[match.group(2).lower()]


def test_ingress_body_limit_matches_the_app(overlay: list[Resource]) -> None:
    ingress = named(overlay, "Ingress", "greenguard-ingest")
    limit = parse_nginx_size(
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    )
    ingest = named(overlay, "Deployment", "greenguard-ingest")
    env = container_env(overlay, pod_spec(ingest)["containers"][0])
    assert limit == int(env["WEBHOOK_MAX_BODY_BYTES"])


def test_ingress_routes_public_paths_only(overlay: list[Resource]) -> None:
    ingress = named(overlay, "Ingress", "greenguard-ingest")
    paths = {p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert paths == {"/webhooks/greenhouse", "/l/", "/api/interviews"}
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    tls_hosts = {host for tls in ingress["spec"]["tls"] for host in tls["hosts"]}
    assert hosts == tls_hosts


def test_link_base_url_points_at_ingress(overlay: list[Resource]) -> None:
    ingress = named(overlay, "Ingress", "greenguard-ingest")
    enricher = named(overlay, "Deployment", "greenguard-enricher")
    base_url = container_env(overlay, pod_spec(enricher)["containers"][0])[
        "GREENGUARD_LINK_BASE_URL"
    ]
    assert base_url == f"https://{ingress['spec']['rules'][0]['host']}/l"


def test_poller_runs_one_active_and_one_standby(overlay: list[Resource]) -> None:
    poller = named(overlay, "Deployment", "greenguard-poller")
    assert poller["spec"]["replicas"] == 2
    assert poller["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    assert not [s for s in of_kind(overlay, "ScaledObject") if "poller" in s["metadata"]["name"]]


@pytest.mark.parametrize("service", ["enricher", "notifier"])
def test_consumers_scale_on_lag(overlay: list[Resource], service: str) -> None:
    scaled = named(overlay, "ScaledObject", f"greenguard-{service}")
    deployment = named(overlay, "Deployment", f"greenguard-{service}")
    env = container_env(overlay, pod_spec(deployment)["containers"][0])
    partitions = {
        topic["metadata"]["name"]: topic["spec"]["partitions"]
        for topic in of_kind(overlay, "KafkaTopic")
    }
    user = named(overlay, "KafkaUser", env["KAFKA_SASL_USERNAME"])
    read_topics = [
        acl["resource"]["name"]
        for acl in user["spec"]["authorization"]["acls"]
        if acl["resource"]["type"] == "topic" and "Read" in acl["operations"]
    ]

    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert "replicas" not in deployment["spec"]
    assert scaled["spec"]["maxReplicaCount"] <= min(partitions[t] for t in read_topics)
    assert 1 <= scaled["spec"]["fallback"]["replicas"] <= scaled["spec"]["maxReplicaCount"]
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == CONSUMER_GROUPS[service]
    assert trigger["metadata"]["bootstrapServers"] == env["KAFKA_BOOTSTRAP_SERVERS"]
    assert trigger["metadata"]["sasl"] == KEDA_SASL_MODES[env["KAFKA_SASL_MECHANISM"]]
    uses_tls = env["KAFKA_SECURITY_PROTOCOL"].endswith("SSL")
    assert trigger["metadata"]["tls"] == ("enable" if uses_tls else "disable")


def test_keda_authenticates_as_the_process(overlay: list[Resource]) -> None:
    for scaled in of_kind(overlay, "ScaledObject"):
        auth_name = scaled["spec"]["triggers"][0]["authenticationRef"]["name"]
        auth = named(overlay, "TriggerAuthentication", auth_name)
        deployment = named(overlay, "Deployment", scaled["spec"]["scaleTargetRef"]["name"])
        pod = pod_spec(deployment)
        [env_ref] = auth["spec"]["env"]
        assert env_ref["containerName"] == pod["containers"][0]["name"]
        assert env_ref["name"] == "KAFKA_SASL_USERNAME"
        secrets = {ref["parameter"]: ref["name"] for ref in auth["spec"]["secretTargetRef"]}
        mounted = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert set(secrets.values()) <= mounted


def test_network_policies_deny_by_default(overlay: list[Resource]) -> None:
    policies = of_kind(overlay, "NetworkPolicy")
    deny = named(overlay, "NetworkPolicy", "greenguard-default-deny")
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"]
    assert "egress" not in deny["spec"]
    allowing_ingest = [
        p
        for p in policies
        if p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component")
        == "ingest"
    ]
    sources = [
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for policy in allowing_ingest
        for rule in policy["spec"].get("ingress", [])
        for peer in rule["from"]
    ]
    assert sorted(sources) == ["ingress-nginx", "monitoring"]


def test_egress_is_dns_kafka_and_https_only(overlay: list[Resource]) -> None:
    ports = set()
    for policy in of_kind(overlay, "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            assert rule.get("to"), f"{policy['metadata']['name']} allows egress anywhere"
            for port in rule["ports"]:
                ports.add((port["protocol"], port["port"]))
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    assert "169.254.0.0/16" in peer["ipBlock"]["except"]
                    assert "10.0.0.0/8" in peer["ipBlock"]["except"]
    assert ports == {("UDP", 53), ("TCP", 53), ("TCP", 9093), ("TCP", 443)}


def test_secrets_are_mounted_not_in_env(overlay: list[Resource]) -> None:
    for workload in workloads(overlay):
        container = pod_spec(workload)["containers"][0]
        for variable in container.get("env", []):
            assert "secretKeyRef" not in variable.get("valueFrom", {}), variable["name"]
        for volume in pod_spec(workload)["volumes"]:
            if "secret" in volume:
                assert volume["secret"]["defaultMode"] == 0o440, volume["name"]


def test_a_topic_for_every_product_topic(overlay: list[Resource]) -> None:
    topics = {t["metadata"]["name"]: t["spec"] for t in of_kind(overlay, "KafkaTopic")}
    assert set(topics) == {spec.name for spec in ALL_TOPICS}
    for spec in ALL_TOPICS:
        topic = topics[spec.name]
        assert topic["replicas"] == 3, spec.name
        assert topic["config"]["min.insync.replicas"] == 2, spec.name
        policy = topic["config"]["cleanup.policy"]
        assert policy == ("compact" if spec.compacted else "delete"), spec.name
        if not spec.compacted:
            assert topic["config"]["retention.ms"] > 0, spec.name
    assert topics[POLLER_LEADER.name]["partitions"] == 1


def test_kafka_resources_name_one_cluster(overlay: list[Resource]) -> None:
    clusters = {
        r["metadata"]["labels"]["strimzi.io/cluster"]
        for r in overlay
        if r["apiVersion"].startswith("kafka.strimzi.io/")
    }
    assert len(clusters) == 1
    [cluster] = clusters
    ingest = named(overlay, "Deployment", "greenguard-ingest")
    bootstrap = container_env(overlay, pod_spec(ingest)["containers"][0])["KAFKA_BOOTSTRAP_SERVERS"]
    assert bootstrap.startswith(f"{cluster}-kafka-bootstrap.")


def test_users_have_least_privilege(overlay: list[Resource]) -> None:
    topic_names = {t["metadata"]["name"] for t in of_kind(overlay, "KafkaTopic")}
    users = {u["metadata"]["name"]: u for u in of_kind(overlay, "KafkaUser")}
    assert set(users) == {f"greenguard-{service}" for service in SERVICES}
    for name, user in users.items():
        assert user["spec"]["authentication"]["type"] in ("scram-sha-512", "tls")
        for acl in user["spec"]["authorization"]["acls"]:
            resource = acl["resource"]
            assert resource["type"] in ("topic", "group"), name
            assert resource["patternType"] == "literal", name
            assert resource["name"] != "*", name
            assert set(acl["operations"]) <= {"Read", "Write", "Describe"}, name
            if resource["type"] == "topic":
                assert resource["name"] in topic_names, name
            else:
                service = name.removeprefix("greenguard-")
                assert resource["name"] == CONSUMER_GROUPS[service], name


def test_each_process_uses_its_own_user(overlay: list[Resource]) -> None:
    for workload in workloads(overlay):
        pod = pod_spec(workload)
        env = container_env(overlay, pod["containers"][0])
        username = env["KAFKA_SASL_USERNAME"]
        assert username == workload["metadata"]["name"]
        assert named(overlay, "KafkaUser", username)
        secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert username in secrets
