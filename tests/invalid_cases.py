"""Invalid DjangoStacks, each with what the models say and what the API server says.

The same cases run through `parse_stack` (unit tests) and through the real API server with
the generated CRD (cluster tests), so a rule that exists on one side only shows up as a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class InvalidCase:
    id: str
    spec: dict[str, Any]
    # (field path, message fragment) as `djangostack render` reports it
    model: tuple[str, str]
    # (field path, message fragment) as the API server reports it
    server: tuple[str, str]
    name: str = "shop"
    extra: dict[str, Any] = field(default_factory=dict)


PINNED = "must be pinned to a tag other than latest, or to a digest"
ONE_OF_DATA = "set exactly one of managed, external"
NAME_RULE = "metadata.name must be a DNS label of at most 40 characters that starts with a letter"
ONE_TLS = "set exactly one of issuerRef, secretName, selfSigned: true, disabled: true"

INGRESS_FROM = "spec.networkPolicy.ingressFrom[0]"


def ingress_from_pods(labels: dict[str, str]) -> dict[str, Any]:
    return {"networkPolicy": {"ingressFrom": [{"podSelector": {"matchLabels": labels}}]}}


PEER_RULE = "set namespaceSelector, podSelector or both"
EXPRESSION_VALUES = "spec.networkPolicy.metricsFrom[0].podSelector.matchExpressions[0].values"
MATCH_LABELS = f"{INGRESS_FROM}.podSelector.matchLabels"
AFFINITY_VALUES = (
    "spec.database.managed.placement.affinity.nodeAffinity"
    ".requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]"
    ".values"
)

CASES = [
    InvalidCase("image-missing", {"image": None}, ("spec.image", "required"),
                ("spec.image", "Required value")),
    InvalidCase("image-latest", {"image": "registry.example.com/shop:latest"},
                ("spec.image", PINNED), ("spec.image", PINNED)),
    InvalidCase("image-untagged", {"image": "registry.example.com/shop"},
                ("spec.image", PINNED), ("spec.image", PINNED)),
    InvalidCase("image-whitespace", {"image": "shop 1.0"},
                ("spec.image", "must match the pattern"), ("spec.image", "should match")),
    InvalidCase("web-replicas-negative", {"web": {"replicas": -1}},
                ("spec.web.replicas", "must be >= 0"),
                ("spec.web.replicas", "greater than or equal to 0")),
    InvalidCase("web-port-privileged", {"web": {"port": 80}},
                ("spec.web.port", "must be >= 1024"),
                ("spec.web.port", "greater than or equal to 1024")),
    InvalidCase("autoscaling-min-above-max",
                {"web": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}},
                ("spec.web.autoscaling.minReplicas", "minReplicas must be <= maxReplicas"),
                ("spec.web.autoscaling.minReplicas", "minReplicas must be <= maxReplicas")),
    InvalidCase("autoscaling-without-cpu-request",
                {"web": {"autoscaling": {}, "resources": {"requests": {"memory": "1Gi"}}}},
                ("spec.web.autoscaling", "autoscaling needs resources.requests.cpu"),
                ("spec.web.autoscaling", "autoscaling needs resources.requests.cpu")),
    InvalidCase("pool-name-not-dns", {"workers": [{"name": "Bad_Pool"}]},
                ("spec.workers[0].name", "must match the pattern"),
                ("spec.workers[0].name", "should match")),
    InvalidCase("pool-name-too-long", {"workers": [{"name": "a" * 16}]},
                ("spec.workers[0].name", "at most 15 characters"),
                ("spec.workers[0].name", "may not be more than 15 bytes")),
    InvalidCase("pool-without-queues", {"workers": [{"name": "a", "queues": []}]},
                ("spec.workers[0].queues", "at least 1 item"),
                ("spec.workers[0].queues", "should have at least 1 items")),
    InvalidCase("pool-concurrency-zero", {"workers": [{"name": "a", "concurrency": 0}]},
                ("spec.workers[0].concurrency", "must be >= 1"),
                ("spec.workers[0].concurrency", "greater than or equal to 1")),
    InvalidCase("pool-names-duplicate", {"workers": [{"name": "a"}, {"name": "a"}]},
                ("spec.workers", "worker pool names must be unique"),
                ("spec.workers[1]", "Duplicate value")),
    InvalidCase("database-managed-and-external",
                {"database": {"managed": {}, "external": {"urlSecretRef": {"name": "db"}}}},
                ("spec.database", ONE_OF_DATA), ("spec.database", ONE_OF_DATA)),
    InvalidCase("database-neither", {"database": {}},
                ("spec.database", ONE_OF_DATA), ("spec.database", ONE_OF_DATA)),
    InvalidCase("redis-managed-and-external",
                {"redis": {"managed": {}, "external": {"urlSecretRef": {"name": "r"}}}},
                ("spec.redis", ONE_OF_DATA), ("spec.redis", ONE_OF_DATA)),
    InvalidCase("database-user-is-the-superuser",
                {"database": {"managed": {"username": "postgres"}}},
                ("spec.database.managed.username", "is the superuser's"),
                ("spec.database.managed.username", "is the superuser's")),
    InvalidCase("database-name-is-postgres-own",
                {"database": {"managed": {"databaseName": "template1"}}},
                ("spec.database.managed.databaseName", "PostgreSQL's own"),
                ("spec.database.managed.databaseName", "PostgreSQL's own")),
    InvalidCase("web-metrics-port-is-the-http-port", {"web": {"metricsPort": 8000}},
                ("spec.web.metricsPort", "metricsPort must differ from port"),
                ("spec.web.metricsPort", "metricsPort must differ from port")),
    InvalidCase("network-peer-empty", {"networkPolicy": {"ingressFrom": [{}]}},
                (INGRESS_FROM, PEER_RULE), (INGRESS_FROM, PEER_RULE)),
    InvalidCase("network-selector-in-without-values",
                {"networkPolicy": {"metricsFrom": [{"podSelector": {"matchExpressions": [
                    {"key": "app", "operator": "In"}]}}]}},
                (EXPRESSION_VALUES, "In and NotIn need values"),
                (EXPRESSION_VALUES, "In and NotIn need values")),
    InvalidCase("network-selector-bad-label",
                ingress_from_pods({"bad key": "x"}),
                (MATCH_LABELS, "keys must be label names"),
                (MATCH_LABELS, "keys must be label names")),
    InvalidCase("network-selector-bad-value",
                ingress_from_pods({"app": "-x"}),
                (f"{MATCH_LABELS}.app", "must match the pattern"),
                (f"{MATCH_LABELS}.app", "should match")),
    InvalidCase("database-image-latest", {"database": {"managed": {"image": "postgres:latest"}}},
                ("spec.database.managed.image", PINNED), ("spec.database.managed.image", PINNED)),
    InvalidCase("storage-not-a-quantity", {"database": {"managed": {"storage": "ten gigs"}}},
                ("spec.database.managed.storage", "must match the pattern"),
                ("spec.database.managed.storage", "should match")),
    InvalidCase("host-uppercase", {"ingress": {"host": "Shop.Example.com"}},
                ("spec.ingress.host", "must be a lowercase DNS name"),
                ("spec.ingress.host", "must be a lowercase DNS name")),
    InvalidCase("tls-two-modes",
                {"ingress": {"tls": {"selfSigned": True, "secretName": "shop-cert"}}},
                ("spec.ingress.tls", ONE_TLS), ("spec.ingress.tls", ONE_TLS)),
    InvalidCase("tls-no-mode", {"ingress": {"tls": {}}},
                ("spec.ingress.tls", ONE_TLS), ("spec.ingress.tls", ONE_TLS)),
    InvalidCase("issuer-kind-unknown",
                {"ingress": {"tls": {"issuerRef": {"name": "le", "kind": "Vault"}}}},
                ("spec.ingress.tls.issuerRef.kind", "must be one of"),
                ("spec.ingress.tls.issuerRef.kind", "Unsupported value")),
    InvalidCase("backup-schedule-not-cron", {"backup": {"schedule": "every day"}},
                ("spec.backup.schedule", "must match the pattern"),
                ("spec.backup.schedule", "should match")),
    InvalidCase("backup-retain-zero", {"backup": {"retain": 0}},
                ("spec.backup.retain", "must be >= 1"),
                ("spec.backup.retain", "greater than or equal to 1")),
    InvalidCase("migration-timeout-too-short", {"migrations": {"timeoutSeconds": 10}},
                ("spec.migrations.timeoutSeconds", "must be >= 30"),
                ("spec.migrations.timeoutSeconds", "greater than or equal to 30")),
    InvalidCase("deletion-policy-unknown", {"deletionPolicy": "Keep"},
                ("spec.deletionPolicy", "must be one of"),
                ("spec.deletionPolicy", "Unsupported value")),
    InvalidCase("pull-policy-unknown", {"imagePullPolicy": "Sometimes"},
                ("spec.imagePullPolicy", "must be one of"),
                ("spec.imagePullPolicy", "Unsupported value")),
    InvalidCase("env-value-and-value-from",
                {"env": [{"name": "A", "value": "1",
                          "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]},
                ("spec.env[0]", "set value or valueFrom, not both"),
                ("spec.env[0]", "set value or valueFrom, not both")),
    InvalidCase("env-value-from-empty", {"env": [{"name": "A", "valueFrom": {}}]},
                ("spec.env[0].valueFrom", "set exactly one of secretKeyRef"),
                ("spec.env[0].valueFrom", "set exactly one of secretKeyRef")),
    InvalidCase("env-from-empty", {"envFrom": [{"prefix": "X_"}]},
                ("spec.envFrom[0]", "set exactly one of configMapRef, secretRef"),
                ("spec.envFrom[0]", "set exactly one of configMapRef, secretRef")),
    InvalidCase("settings-module-path", {"settingsModule": "config/settings"},
                ("spec.settingsModule", "must match the pattern"),
                ("spec.settingsModule", "should match")),
    InvalidCase("restore-from-a-path", {"database": {"managed": {}, "restoreFrom": "../etc/x"}},
                ("spec.database.restoreFrom", "must match the pattern"),
                ("spec.database.restoreFrom", "should match")),
    InvalidCase("unknown-field", {"bogus": 1},
                ("spec.bogus", "unknown field"), ("spec.bogus", "unknown field")),
    InvalidCase("stack-name-too-long", {}, ("metadata.name", "at most 40 characters"),
                ("", NAME_RULE), name="s" * 41),
    InvalidCase("stack-name-starts-with-a-digit", {}, ("metadata.name", "must match the pattern"),
                ("", NAME_RULE), name="1shop"),
    InvalidCase("stack-name-holds-worker", {}, ("metadata.name", "does not hold or end in"),
                ("", NAME_RULE), name="shop-worker-x"),
    InvalidCase("host-is-an-ip", {"ingress": {"host": "10.0.0.1"}},
                ("spec.ingress.host", "not an IP address"),
                ("spec.ingress.host", "not an IP address")),
    InvalidCase("host-label-too-long", {"ingress": {"host": "a" * 64 + ".example.com"}},
                ("spec.ingress.host", "must be a lowercase DNS name"),
                ("spec.ingress.host", "must be a lowercase DNS name")),
    InvalidCase("quantity-two-dots", {"web": {"resources": {"requests": {"cpu": "1.2.3"}}}},
                ("spec.web.resources.requests.cpu", "must match the pattern"),
                ("spec.web.resources.requests.cpu", "should match")),
    InvalidCase("quantity-negative", {"redis": {"managed": {"storage": "-5Gi"}}},
                ("spec.redis.managed.storage", "must match the pattern"),
                ("spec.redis.managed.storage", "should match")),
    InvalidCase("storage-zero", {"backup": {"storage": "0"}},
                ("spec.backup.storage", "must be greater than zero"),
                ("spec.backup.storage", "must be greater than zero")),
    InvalidCase("requests-above-limits",
                {"workers": [{"name": "a", "resources": {"requests": {"memory": "2Gi"},
                                                        "limits": {"memory": "1Gi"}}}]},
                ("spec.workers[0].resources.requests.memory", "must be <= limits.memory"),
                ("spec.workers[0].resources.requests.memory", "must be <= limits.memory")),
    InvalidCase("field-path-unknown",
                {"env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}}]},
                ("spec.env[0].valueFrom.fieldRef.fieldPath", "must match the pattern"),
                ("spec.env[0].valueFrom.fieldRef.fieldPath", "should match")),
    InvalidCase("annotation-key-malformed", {"podAnnotations": {"bad key": "x"}},
                ("spec.podAnnotations", "keys must be annotation names"),
                ("spec.podAnnotations", "keys must be annotation names")),
    InvalidCase("annotation-key-reserved", {"ingress": {"annotations": {"djangostack.io/x": "1"}}},
                ("spec.ingress.annotations", "not under djangostack.io/"),
                ("spec.ingress.annotations", "not under djangostack.io/")),
    InvalidCase("secret-key-with-slash", {"secretKeyRef": {"name": "django", "key": "a/b"}},
                ("spec.secretKeyRef.key", "must match the pattern"),
                ("spec.secretKeyRef.key", "should match")),
    InvalidCase("image-not-a-reference", {"image": "!!!/$$$:1"},
                ("spec.image", "must match the pattern"), ("spec.image", "should match")),
    InvalidCase("replicas-as-string", {"web": {"replicas": "2"}},
                ("spec.web.replicas", "must be an integer"),
                ("spec.web.replicas", "must be of type integer")),
    InvalidCase("restore-without-backups",
                {"database": {"managed": {}, "restoreFrom": "latest"},
                 "backup": {"enabled": False}},
                ("spec.database.restoreFrom", "it needs backup.enabled"),
                ("spec.database.restoreFrom", "it needs backup.enabled")),
    InvalidCase("env-from-prefix-not-a-name",
                {"envFrom": [{"prefix": "1 X", "configMapRef": {"name": "c"}}]},
                ("spec.envFrom[0].prefix", "must match the pattern"),
                ("spec.envFrom[0].prefix", "should match")),
    InvalidCase("time-zone-empty", {"backup": {"timeZone": ""}},
                ("spec.backup.timeZone", "at least 1 characters"),
                ("spec.backup.timeZone", "should be at least 1 chars long")),
    InvalidCase("pod-label-the-operator-selects-on",
                {"web": {"placement": {"podLabels": {"app.kubernetes.io/component": "x"}}}},
                ("spec.web.placement.podLabels", "must not be the operator's own labels"),
                ("spec.web.placement.podLabels", "must not be the operator's own labels")),
    InvalidCase("toleration-exists-with-value",
                {"placement": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}},
                ("spec.placement.tolerations[0].value", "Exists takes no value"),
                ("spec.placement.tolerations[0].value", "Exists takes no value")),
    InvalidCase("toleration-seconds-without-no-execute",
                {"workers": [{"name": "default", "placement": {"tolerations": [
                    {"key": "k", "effect": "NoSchedule", "tolerationSeconds": 30}]}}]},
                ("spec.workers[0].placement.tolerations[0].tolerationSeconds",
                 "tolerationSeconds needs effect NoExecute"),
                ("spec.workers[0].placement.tolerations[0].tolerationSeconds",
                 "tolerationSeconds needs effect NoExecute")),
    InvalidCase("node-affinity-gt-not-an-integer",
                {"database": {"managed": {"placement": {"affinity": {"nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [
                            {"key": "cpus", "operator": "Gt", "values": ["many"]}]}]}}}}}}},
                (AFFINITY_VALUES, "Gt and Lt take exactly one integer value"),
                (AFFINITY_VALUES, "Gt and Lt take exactly one integer value")),
    InvalidCase("spread-min-domains-with-schedule-anyway",
                {"beat": {"placement": {"topologySpreadConstraints": [
                    {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                     "whenUnsatisfiable": "ScheduleAnyway", "minDomains": 2}]}}},
                ("spec.beat.placement.topologySpreadConstraints[0].minDomains",
                 "minDomains needs whenUnsatisfiable DoNotSchedule"),
                ("spec.beat.placement.topologySpreadConstraints[0].minDomains",
                 "minDomains needs whenUnsatisfiable DoNotSchedule")),
    InvalidCase("priority-class-not-a-name", {"migrations": {"placement": {
                    "priorityClassName": "High Priority"}}},
                ("spec.migrations.placement.priorityClassName", "must match the pattern"),
                ("spec.migrations.placement.priorityClassName", "should match")),
    InvalidCase("worker-ping-timeout-over-period",
                {"workers": [{"name": "default",
                              "liveness": {"periodSeconds": 10, "timeoutSeconds": 10}}]},
                ("spec.workers[0].liveness.timeoutSeconds",
                 "timeoutSeconds must be less than periodSeconds"),
                ("spec.workers[0].liveness.timeoutSeconds",
                 "timeoutSeconds must be less than periodSeconds")),
]  # fmt: skip
