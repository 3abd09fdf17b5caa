"""Status as a pure function of the stack, what the cluster shows, and the release plan.

Conditions follow the Kubernetes API conventions; a condition keeps its lastTransitionTime
while its status stays the same, so recomputing an unchanged status gives an equal object
(and the reconciler writes nothing).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from djangostack_operator import certificates
from djangostack_operator.release import ReleasePlan, job_failure, job_state
from djangostack_operator.render.django import web_min_replicas
from djangostack_operator.render.monitoring import POD_MONITOR_API_VERSION
from djangostack_operator.spec import DjangoStack
from djangostack_operator.status_types import (
    Components,
    Condition,
    ConditionStatus,
    DjangoStackStatus,
    LastBackup,
    Phase,
    Reason,
    Replicas,
)

Children = Mapping[str, Mapping[str, dict[str, Any]]]  # kind -> name -> object


@dataclass(frozen=True)
class WriteFailure:
    """A write the API server refused or did not answer: what, the HTTP status (0: no
    answer; -1: the operator's own error) and the API server's message."""

    target: str  # e.g. "CronJob shop-backup"
    status: int
    message: str
    # The object exists and belongs to someone else (an apply without force was refused).
    conflict: bool = False

    @property
    def permanent(self) -> bool:
        """Retrying the same write cannot help: a person has to change something."""
        if self.conflict:
            return True
        return self.status == -1 or (400 <= self.status < 500 and self.status not in (409, 429))

    @property
    def reason(self) -> Reason:
        if self.conflict:
            return Reason.NAME_CONFLICT
        if self.status == -1:
            return Reason.INTERNAL_ERROR
        if self.status == 403:
            return Reason.FORBIDDEN
        return Reason.CHILD_REJECTED if self.permanent else Reason.API_UNAVAILABLE

    def describe(self) -> str:
        code = f" ({self.status})" if self.status > 0 else ""
        return f"{self.target}: {self.message}{code}"


@dataclass(frozen=True)
class Observation:
    """What the reconciler saw, reduced to what status needs.

    problems: (reason, message) of input the operator cannot use (e.g. a missing Secret);
    any problem makes the stack Stalled.
    """

    children: Children
    plan: ReleasePlan
    tls_secret_present: bool
    problems: tuple[tuple[str, str], ...] = ()
    # When the certificate the Ingress serves expires (vocabulary.TIME_FORMAT); "" when its
    # Secret holds no readable one; None when not known (none yet, or made in this pass).
    tls_not_after: str | None = None
    # Every backup Job of the stack: scheduled (CronJob), on-demand and pre-migration.
    backups: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    # Writes of this reconcile that failed.
    failures: tuple[WriteFailure, ...] = ()
    # Kinds the stack wants that the cluster does not serve (its CRD is not installed).
    unserved: tuple[str, ...] = ()


def _finished_at(job: dict[str, Any]) -> str:
    status = job.get("status", {})
    if status.get("completionTime"):
        return str(status["completionTime"])
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return str(condition.get("lastTransitionTime") or "")
    return ""


def backup_outcome(jobs: tuple[dict[str, Any], ...]) -> tuple[LastBackup | None, str | None]:
    """(newest successful backup, failure message if the newest finished backup failed)."""
    finished = sorted(
        (j for j in jobs if job_state(j) in ("succeeded", "failed")), key=_finished_at
    )
    succeeded = [j for j in finished if job_state(j) == "succeeded"]
    last = None
    if succeeded:
        newest = succeeded[-1]
        last = LastBackup(time=_finished_at(newest), name=newest["metadata"]["name"])
    if finished and job_state(finished[-1]) == "failed":
        _, detail = job_failure(finished[-1])
        return last, f"Job {finished[-1]['metadata']['name']}: {detail}"
    return last, None


def _child(children: Children, kind: str, name: str) -> dict[str, Any] | None:
    return children.get(kind, {}).get(name)


def workload_replicas(obj: dict[str, Any] | None) -> Replicas:
    if obj is None:
        return Replicas()
    return Replicas(
        desired=int(obj.get("spec", {}).get("replicas", 1) or 0),
        ready=int(obj.get("status", {}).get("readyReplicas", 0) or 0),
    )


def _count(obj: dict[str, Any], section: str, key: str, default: int = 0) -> int:
    return int(obj.get(section, {}).get(key, default) or 0)


def _generation_observed(obj: dict[str, Any]) -> bool:
    """The workload's controller has seen its latest spec."""
    return _count(obj, "status", "observedGeneration") >= _count(obj, "metadata", "generation")


def _template_image(obj: dict[str, Any]) -> str | None:
    """The first container's image ("" when it has none); None when there is no container."""
    containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    return str(containers[0].get("image") or "") if containers else None


# A tier whose controller cannot create its pods: a missing PriorityClass or ServiceAccount,
# a quota, an admission policy. The Deployment's ReplicaFailure condition says which.
FAILED_CREATE = "FailedCreate"


def creation_failure(obj: dict[str, Any] | None) -> str | None:
    """Why the workload's controller cannot create pods, as its status says; None if it can."""
    for condition in (obj or {}).get("status", {}).get("conditions") or []:
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return str(condition.get("message") or condition.get("reason") or "unknown")
    return None


def _progress(obj: dict[str, Any] | None, message: str) -> tuple[str, str]:
    """Reason and message of a tier that is not available yet."""
    failure = creation_failure(obj)
    if failure is None:
        return "Progressing", message
    return FAILED_CREATE, f"{message}; cannot create pods: {failure}"


def rolled_out(obj: dict[str, Any] | None, image: str | None, minimum: int = 0) -> bool:
    """The workload runs `image` on all its desired replicas, all available (ready for the
    Deployment's minReadySeconds: web's lets Ingress controllers catch up), no old pods left."""
    if obj is None or not _generation_observed(obj):
        return False
    if image is not None and _template_image(obj) != image:
        return False
    # At least what the stack asks for: the live object may still show an older count (the
    # zero replicas of a restore's hold, read before this reconcile's write went out).
    desired = max(_count(obj, "spec", "replicas", 1), minimum)
    return (
        _count(obj, "status", "updatedReplicas") >= desired
        and _count(obj, "status", "readyReplicas") >= desired
        and _count(obj, "status", "availableReplicas") >= desired
        and _count(obj, "status", "replicas") <= desired
    )


class _Conditions:
    """Builds conditions, keeping lastTransitionTime from the previous status when unchanged."""

    def __init__(self, previous: DjangoStackStatus | None, generation: int | None, now: str):
        self.previous = {c.type: c for c in (previous.conditions if previous else [])}
        self.generation = generation
        self.now = now
        self.built: list[Condition] = []

    def set(self, kind: str, status: str, reason: str, message: str) -> Condition:
        before = self.previous.get(kind)
        since = before.last_transition_time if before and before.status == status else self.now
        condition = Condition(
            type=kind,
            status=cast(ConditionStatus, status),  # validated by the model all the same
            reason=reason,
            message=message,
            observed_generation=self.generation,
            last_transition_time=since,
        )
        self.built.append(condition)
        return condition


def _certificate_condition(conditions: _Conditions, not_after: str | None, now: str) -> Condition:
    """TLSReady of a certificate that exists: False once it cannot be served much longer."""
    if not_after is None:
        return conditions.set("TLSReady", "True", "CertificateReady", "certificate present")
    if not_after == "":
        message = "the TLS Secret's tls.crt holds no readable certificate"
        return conditions.set("TLSReady", "False", "CertificateInvalid", message)
    if certificates.expires_within(not_after, now, datetime.timedelta(0)):
        message = f"the certificate expired at {not_after}"
        return conditions.set("TLSReady", "False", "CertificateExpired", message)
    if certificates.expires_within(not_after, now, certificates.EXPIRY_WARNING):
        message = f"the certificate expires at {not_after} and was not renewed"
        return conditions.set("TLSReady", "False", "CertificateExpiring", message)
    message = f"certificate present, valid until {not_after}"
    return conditions.set("TLSReady", "True", "CertificateReady", message)


def compute_status(
    stack: DjangoStack,
    observation: Observation,
    previous: DjangoStackStatus | None,
    now: str,
) -> DjangoStackStatus:
    spec = stack.spec
    names = stack.names
    children = observation.children
    plan = observation.plan
    conditions = _Conditions(previous, stack.metadata.generation, now)
    serving_image = plan.serving.image if plan.serving else None

    database_replicas = workload_replicas(_child(children, "StatefulSet", names.postgres))
    redis_replicas = workload_replicas(_child(children, "StatefulSet", names.redis))
    database_ok = _data_service(
        conditions, "DatabaseReady", "PostgreSQL", names.postgres,
        managed=spec.database.managed is not None, replicas=database_replicas,
    )  # fmt: skip
    cache_ok = _data_service(
        conditions, "CacheReady", "Redis", names.redis,
        managed=spec.redis.managed is not None, replicas=redis_replicas,
    )  # fmt: skip

    migrated = conditions.set("Migrated", *plan.migrated)

    web = _child(children, "Deployment", names.web)
    web_replicas = workload_replicas(web)
    if serving_image is None:
        web_ok = conditions.set(
            "WebAvailable", "False", "NotReleased", "no release is migrated yet"
        )
    elif rolled_out(web, serving_image, web_min_replicas(stack) if not plan.hold else 0):
        web_ok = conditions.set(
            "WebAvailable", "True", "Available", f"{web_replicas.ready} ready, {serving_image}"
        )
    else:
        message = f"Deployment {names.web}: {web_replicas.ready}/{web_replicas.desired} ready"
        web_ok = conditions.set("WebAvailable", "False", *_progress(web, message))

    pools: dict[str, Replicas] = {}
    lagging: list[str] = []
    failing: list[str] = []
    for pool in spec.workers:
        deployment = _child(children, "Deployment", names.worker(pool.name))
        pools[pool.name] = workload_replicas(deployment)
        minimum = pool.replicas if not plan.hold else 0
        if serving_image is None or not rolled_out(deployment, serving_image, minimum):
            lagging.append(pool.name)
            failure = creation_failure(deployment)
            if failure is not None:
                failing.append(f"pool {pool.name} cannot create pods: {failure}")
    if not spec.workers:
        workers_ok = conditions.set("WorkersAvailable", "True", "NoWorkers", "no worker pools")
    elif lagging:
        workers_ok = conditions.set(
            "WorkersAvailable",
            "False",
            FAILED_CREATE if failing else "Progressing",
            "; ".join([f"pools not ready: {', '.join(lagging)}", *failing]),
        )
    else:
        workers_ok = conditions.set(
            "WorkersAvailable", "True", "Available", f"{len(pools)} pool(s) ready"
        )

    beat = _child(children, "Deployment", names.beat)
    beat_replicas = workload_replicas(beat)
    if not spec.beat.enabled:
        beat_ok = conditions.set("BeatAvailable", "True", "Disabled", "beat is disabled")
    elif serving_image is not None and rolled_out(beat, serving_image, 0 if plan.hold else 1):
        beat_ok = conditions.set("BeatAvailable", "True", "Available", "one scheduler running")
    else:
        beat_ok = conditions.set("BeatAvailable", "False", *_progress(beat, "beat is not ready"))

    ingress = spec.ingress
    if ingress is None or not ingress.tls.enabled:
        tls_ok = conditions.set("TLSReady", "True", "NotRequired", "no TLS at the Ingress")
    elif observation.tls_secret_present:
        tls_ok = _certificate_condition(conditions, observation.tls_not_after, now)
    else:
        tls_ok = conditions.set(
            "TLSReady", "False", "WaitingForCertificate", "the TLS Secret does not exist yet"
        )

    _monitoring_condition(conditions, stack, children, observation.unserved)

    last_backup, backup_failure = backup_outcome(observation.backups)
    last_backup = last_backup or (previous.last_backup if previous else None)
    if not spec.backup.enabled:
        conditions.set("BackupSucceeded", "True", "Disabled", "scheduled backups are disabled")
    elif backup_failure is not None:
        conditions.set("BackupSucceeded", "False", "Failed", backup_failure)
    elif last_backup is not None:
        conditions.set("BackupSucceeded", "True", "Succeeded", f"last backup {last_backup.name}")
    else:
        conditions.set("BackupSucceeded", "Unknown", "NoBackupYet", "no backup has completed yet")

    stalled_reason = ""
    stalled_message = ""
    permanent = [f for f in observation.failures if f.permanent]
    retrying = [f for f in observation.failures if not f.permanent]
    if observation.problems:
        stalled_reason, stalled_message = observation.problems[0]
        stalled_message = "; ".join(message for _, message in observation.problems)
    elif permanent:
        stalled_reason = permanent[0].reason
        stalled_message = "; ".join(f.describe() for f in permanent)
    elif plan.stalled:
        stalled_reason, stalled_message = plan.stall_reason, plan.migrated[2]

    parts = (database_ok, cache_ok, migrated, web_ok, workers_ok, beat_ok, tls_ok)
    ready = all(c.status == "True" for c in parts) and not stalled_reason and not retrying
    phase = _phase(
        ready=ready,
        stalled_reason=stalled_reason,
        database_ok=database_ok,
        cache_ok=cache_ok,
        plan=plan,
        web=web,
        serving_image=serving_image,
    )

    if stalled_reason:
        conditions.set("Stalled", "True", stalled_reason, stalled_message)
    else:
        conditions.set("Stalled", "False", "Reconciled", "no blocking problem")
    if retrying and not stalled_reason:
        # The writes are retried after a backoff: still in progress, not failed for good.
        phase = "Degraded"
        retry_message = "retrying: " + "; ".join(f.describe() for f in retrying)
        conditions.set("Reconciling", "True", Reason.RETRYING, retry_message)
        conditions.set("Ready", "False", retrying[0].reason, retry_message)
    else:
        busy = phase in ("Provisioning", "Restoring", "BackingUp", "Migrating", "Rolling")
        conditions.set(
            "Reconciling",
            "True" if busy else "False",
            phase if busy else "Idle",
            f"phase {phase}",
        )
        if ready:
            conditions.set("Ready", "True", "Available", f"serving {serving_image}")
        else:
            waiting = [c.type for c in parts if c.status != "True"]
            message = stalled_message or f"waiting for {', '.join(waiting)}"
            conditions.set("Ready", "False", stalled_reason or phase, message)

    url = ingress.url if ingress is not None else f"http://{names.web}.{stack.namespace}.svc"
    return DjangoStackStatus(
        observed_generation=stack.metadata.generation,
        phase=phase,
        conditions=sorted(conditions.built, key=_condition_order),
        url=url,
        released_image=serving_image,
        release_hash=plan.serving.hash if plan.serving else None,
        last_backup=last_backup,
        components=Components(
            web=web_replicas,
            workers=pools,
            beat=beat_replicas,
            database=database_replicas,
            redis=redis_replicas,
        ),
    )


# The CRD of a kind the stack wants is not installed: the stack runs without that child.
KIND_NOT_SERVED = "KindNotServed"


def _monitoring_condition(
    conditions: _Conditions, stack: DjangoStack, children: Children, unserved: tuple[str, ...]
) -> Condition:
    """MonitoringReady: whether what spec.monitoring asks for exists. It does not gate Ready:
    the app serves whether or not Prometheus scrapes it."""
    if not stack.spec.monitoring.pod_monitor:
        return conditions.set("MonitoringReady", "True", "Disabled", "no PodMonitor asked for")
    if "PodMonitor" in unserved:
        return conditions.set(
            "MonitoringReady",
            "False",
            KIND_NOT_SERVED,
            f"PodMonitor ({POD_MONITOR_API_VERSION}) is not served by this cluster: install"
            " prometheus-operator's CRDs, then restart the operator",
        )
    if _child(children, "PodMonitor", stack.names.web) is None:
        return conditions.set(
            "MonitoringReady",
            "False",
            "Progressing",
            f"PodMonitor {stack.names.web} is not there yet",
        )
    return conditions.set(
        "MonitoringReady", "True", "Available", f"PodMonitor {stack.names.web} scrapes web"
    )


def _data_service(
    conditions: _Conditions,
    kind: str,
    label: str,
    statefulset: str,
    *,
    managed: bool,
    replicas: Replicas,
) -> Condition:
    if not managed:
        return conditions.set(kind, "True", "External", f"external {label}")
    if replicas.ready >= 1:
        return conditions.set(kind, "True", "Ready", f"{label} is ready")
    return conditions.set(kind, "False", "Provisioning", f"StatefulSet {statefulset} is not ready")


ORDER = ("Ready", "Reconciling", "Stalled")


def _condition_order(condition: Condition) -> tuple[int, str]:
    return (ORDER.index(condition.type), "") if condition.type in ORDER else (9, condition.type)


def _phase(
    *,
    ready: bool,
    stalled_reason: str,
    database_ok: Condition,
    cache_ok: Condition,
    plan: ReleasePlan,
    web: dict[str, Any] | None,
    serving_image: str | None,
) -> Phase:
    if stalled_reason:
        return "Stalled"
    if ready:
        return "Ready"
    if database_ok.status != "True" or cache_ok.status != "True":
        return "Provisioning"
    if plan.migrating or plan.hold:
        return plan.phase
    if web is not None and _updating(web, serving_image):
        return "Rolling"
    return "Rolling" if serving_image is None else "Degraded"


def _updating(obj: dict[str, Any], image: str | None) -> bool:
    """A rollout is in progress (new spec not yet observed, or pods not all updated)."""
    if not _generation_observed(obj):
        return True
    current = _template_image(obj)
    if image is not None and current is not None and current != image:
        return True
    return _count(obj, "status", "updatedReplicas") < _count(obj, "spec", "replicas", 1)
