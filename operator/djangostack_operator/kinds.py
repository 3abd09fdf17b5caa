"""The one table of object kinds the operator reads and writes.

It drives the watches (handlers.py), what a reconcile may prune or only ever create
(decide.py), the start-up listing that proves the caches complete (controller.py), and a
test against the chart's RBAC.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChildKind:
    kind: str
    group: str  # "" for the core group
    version: str
    plural: str
    # Pruned when no longer desired. Volume claims never are: data goes only with the stack.
    prunable: bool = True
    # The spec is immutable: created when absent, never patched.
    create_only: bool = False
    # Served only where its CRD is installed (found at start-up): a stack that wants one
    # where it is not served says so in status and runs without it.
    optional: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def kopf_resource(self) -> tuple[str, ...]:
        """(group, version, plural) as kopf's decorators take them; core kinds omit the group."""
        return (
            (self.group, self.version, self.plural) if self.group else (self.version, self.plural)
        )


CHILD_KINDS: tuple[ChildKind, ...] = (
    ChildKind("Deployment", "apps", "v1", "deployments"),
    ChildKind("StatefulSet", "apps", "v1", "statefulsets"),
    ChildKind("Service", "", "v1", "services"),
    ChildKind("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets"),
    ChildKind("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers"),
    ChildKind("Ingress", "networking.k8s.io", "v1", "ingresses"),
    ChildKind("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies"),
    ChildKind("Job", "batch", "v1", "jobs", create_only=True),
    ChildKind("CronJob", "batch", "v1", "cronjobs"),
    ChildKind("ConfigMap", "", "v1", "configmaps"),
    ChildKind("PodMonitor", "monitoring.coreos.com", "v1", "podmonitors", optional=True),
    ChildKind(
        "PersistentVolumeClaim",
        "",
        "v1",
        "persistentvolumeclaims",
        prunable=False,
        create_only=True,
    ),
)
BY_KIND = {child.kind: child for child in CHILD_KINDS}
PRUNABLE = frozenset(child.kind for child in CHILD_KINDS if child.prunable)
CREATE_ONLY = frozenset(child.kind for child in CHILD_KINDS if child.create_only)
OPTIONAL = tuple(child for child in CHILD_KINDS if child.optional)

# ConfigMaps the stacks refer to: watched and kept as keys and a content digest, not as
# children. Secrets are never listed or watched (a listing carries every value): each one a
# stack names is read by name (secretlookup.py).
CONFIG_MAP = ChildKind("ConfigMap", "", "v1", "configmaps")
CONFIG_KINDS = (CONFIG_MAP,)
