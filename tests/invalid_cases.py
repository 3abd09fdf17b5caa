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
ONE_TLS = "set exactly one of issuerRef, secretName, selfSigned: true, disabled: true"

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
                ("", "metadata.name must be a DNS label of at most 40 characters"),
                name="s" * 41),
]  # fmt: skip
