"""One idempotent reconcile of a whole stack: observe, decide (pure), write only what differs.

The inputs come from the operator's watch caches (kopf indexes), so a reconcile that finds
everything as desired reads nothing from and writes nothing to the API server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from djangostack_operator import diff, secretgen
from djangostack_operator.kube import FIELD_MANAGER, Kube
from djangostack_operator.references import (
    ObjectInfo,
    config_digests,
    missing_references,
)
from djangostack_operator.release import ReleasePlan, plan_release, released_from
from djangostack_operator.render import RenderContext, backup, meta, render
from djangostack_operator.render.backup import BACKUP
from djangostack_operator.render.django import BEAT, WEB, WORKER
from djangostack_operator.render.ingress import tls_secret_name
from djangostack_operator.render.pod import referenced_config
from djangostack_operator.render.secrets import generated_secrets
from djangostack_operator.spec import DjangoStack
from djangostack_operator.status import Observation, compute_status
from djangostack_operator.status_types import DjangoStackStatus
from djangostack_operator.validation import InvalidStackError, parse_stack

# Kinds whose spec is immutable: created when absent, never patched.
CREATE_ONLY = {"Job", "PersistentVolumeClaim"}
# Kinds pruned when no longer desired. Volume claims never are: data goes only with the stack.
PRUNABLE = {
    "Deployment",
    "StatefulSet",
    "Service",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "Ingress",
    "Job",
    "CronJob",
    "ConfigMap",
}
APP_TIERS = {WEB, WORKER, BEAT}

EventSink = Callable[[str, str, str], None]  # (type Normal|Warning, reason, message)
# A write of ours not yet seen in the watch cache after this long is made again.
ECHO_SECONDS = 30.0


class RecentWrites:
    """Writes of this operator that the watch caches may not show yet.

    The caches lag our own writes by a moment, and a reconcile triggered in between would
    write the same object again. Each write is recorded with the resourceVersion the object
    had before it (None: it did not exist). While the cache still shows exactly that version,
    the write is known to be in flight and is not repeated; any other version means the cache
    caught up or someone changed the object since, and the usual comparison decides.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.written: dict[tuple[str, ...], tuple[str, str | None, float]] = {}
        self.lock = threading.Lock()

    def in_flight(self, key: tuple[str, ...], what: str, live: dict[str, Any] | None) -> bool:
        with self.lock:
            found = self.written.get(key)
        if found is None or found[0] != what or self.clock() - found[2] > ECHO_SECONDS:
            return False
        return found[1] == _version(live)

    def record(self, key: tuple[str, ...], what: str, live: dict[str, Any] | None) -> None:
        with self.lock:
            now = self.clock()
            self.written[key] = (what, _version(live), now)
            for stale in [k for k, (_, _, at) in self.written.items() if now - at > ECHO_SECONDS]:
                del self.written[stale]


def _version(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else obj.get("metadata", {}).get("resourceVersion")


log = logging.getLogger("djangostack_operator")


@dataclass(frozen=True)
class Inputs:
    """What one reconcile reads, all from watch caches."""

    body: dict[str, Any]
    children: Mapping[str, Mapping[str, dict[str, Any]]]  # kind -> name -> live object
    secrets: Mapping[str, ObjectInfo]  # name -> keys and digest, in the stack's namespace
    config_maps: Mapping[str, ObjectInfo]
    # The status this operator last wrote: the watch may not have delivered it yet.
    last_written: DjangoStackStatus | None = None


@dataclass
class Outcome:
    writes: list[str] = field(default_factory=list)
    status: DjangoStackStatus | None = None


def previous_status(body: dict[str, Any]) -> DjangoStackStatus | None:
    raw = body.get("status") or {}
    known = {k: v for k, v in raw.items() if k in DjangoStackStatus.model_fields or k in _ALIASES}
    try:
        return DjangoStackStatus.model_validate(known)
    except ValidationError:
        return None


_ALIASES = {f.alias for f in DjangoStackStatus.model_fields.values() if f.alias}


def _owned_by(obj: dict[str, Any], uid: str | None) -> bool:
    return any(
        ref.get("uid") == uid and ref.get("controller")
        for ref in obj.get("metadata", {}).get("ownerReferences") or []
    )


def _job_event(job: dict[str, Any]) -> tuple[str, str]:
    """(Event reason, what for) of a Job the operator creates."""
    purpose = (job["metadata"].get("annotations") or {}).get(backup.PURPOSE)
    if purpose == "restore":
        return "RestoreStarted", "restore"
    if purpose is not None:
        return "BackupStarted", f"{purpose} backup"
    image = (job["metadata"].get("annotations") or {}).get(meta.RELEASE_IMAGE, "")
    return "MigrationStarted", f"migrations for {image}"


def _component(obj: dict[str, Any]) -> str:
    return str(obj["metadata"].get("labels", {}).get("app.kubernetes.io/component", ""))


def reconcile(
    kube: Kube, inputs: Inputs, now: str, emit: EventSink, recent: RecentWrites
) -> Outcome:
    outcome = Outcome()
    body = inputs.body
    try:
        stack = parse_stack(body)
    except InvalidStackError as error:
        # Only possible if the CRD in the cluster is older than the operator's models.
        message = "; ".join(error.problems)
        _write_invalid_status(kube, body, message, now, outcome)
        return outcome

    def write(description: str) -> None:
        outcome.writes.append(description)

    problems = missing_references(stack, inputs.secrets, inputs.config_maps)
    problems += _ensure_generated_secrets(
        kube, stack=stack, secrets=inputs.secrets, emit=emit, write=write, recent=recent
    )

    children = inputs.children
    plan = _plan(stack, children)
    if not problems:
        _apply_children(
            kube, stack=stack, inputs=inputs, plan=plan, emit=emit, write=write, recent=recent
        )

    observation = Observation(
        children=children,
        plan=plan,
        tls_secret_present=(tls_secret_name(stack) or "") in inputs.secrets,
        problems=tuple(problems),
        backups=tuple(j for j in children.get("Job", {}).values() if _component(j) == BACKUP),
    )
    stored = previous_status(body)
    # What we wrote last is newer than what the watch has shown us, when we have it.
    previous = inputs.last_written or stored
    status = compute_status(stack, observation, previous, now)
    outcome.status = status
    if status not in (stored, inputs.last_written):
        kube.patch_status(
            stack.namespace, stack.name, status.model_dump(mode="json", by_alias=True)
        )
        write(f"status of DjangoStack {stack.name}")
        _emit_transitions(previous, status, emit)
    return outcome


def _plan(stack: DjangoStack, children: Mapping[str, Mapping[str, dict[str, Any]]]) -> ReleasePlan:
    deployments = children.get("Deployment", {})
    released = released_from(deployments.get(stack.names.web))
    if stack.spec.database.managed is None:
        database_ready = True
    else:
        database = children.get("StatefulSet", {}).get(stack.names.postgres)
        database_ready = int((database or {}).get("status", {}).get("readyReplicas", 0) or 0) >= 1
    jobs = children.get("Job", {})
    names = stack.names
    restore_from = stack.spec.database.restore_from
    return plan_release(
        stack,
        released,
        jobs.get(names.migrations_job(stack.spec.release_hash)),
        database_ready,
        backup_job=jobs.get(names.pre_migration_backup_job(stack.spec.release_hash)),
        restore_job=jobs.get(names.restore_job(restore_from)) if restore_from else None,
    )


def _ensure_generated_secrets(
    kube: Kube,
    *,
    stack: DjangoStack,
    secrets: Mapping[str, ObjectInfo],
    emit: EventSink,
    write: Callable[[str], None],
    recent: RecentWrites,
) -> list[tuple[str, str]]:
    """Create each generated Secret once; never touch one that exists (the user's included)."""
    problems: list[tuple[str, str]] = []
    for wanted in generated_secrets(stack):
        key = ("Secret", stack.namespace, wanted.name)
        existing = secrets.get(wanted.name)
        if existing is not None:
            missing = [key for key in wanted.keys if key not in existing.keys]
            if missing:
                problems.append(
                    ("SecretKeyMissing", f"Secret {wanted.name} has no key {', '.join(missing)}")
                )
            continue
        if recent.in_flight(key, "created", None):
            continue
        metadata = meta.metadata(
            stack,
            wanted.name,
            wanted.component,
            # With Retain the passwords must outlive the stack, like the data they protect.
            owned=stack.spec.deletion_policy == "Delete",
        )
        secret_type, data = secretgen.secret_data(wanted)
        recent.record(key, "created", None)
        if kube.create_secret(stack.namespace, metadata, secret_type, data):
            write(f"Secret {wanted.name}")
            emit("Normal", "SecretCreated", f"Created Secret {wanted.name}")
    return problems


def _apply_children(
    kube: Kube,
    *,
    stack: DjangoStack,
    inputs: Inputs,
    plan: ReleasePlan,
    emit: EventSink,
    write: Callable[[str], None],
    recent: RecentWrites,
) -> None:
    refs = referenced_config(stack)
    context = RenderContext(
        release=plan.serving,
        config_digests=config_digests(refs, inputs.secrets, inputs.config_maps),
    )
    desired = render(stack, context)
    live = inputs.children
    if plan.serving is None:
        # Nothing is migrated yet: the app tiers wait for the first release.
        desired = [
            o for o in desired if not (o["kind"] == "Deployment" and _component(o) in APP_TIERS)
        ]
    if plan.hold:
        # A restore is running: no app pod may write to the database meanwhile.
        for obj in desired:
            if obj["kind"] == "Deployment" and _component(obj) in APP_TIERS:
                obj["spec"]["replicas"] = 0
    pre_backup = backup.pre_migration_backup_job(stack)
    if plan.start_backup or pre_backup["metadata"]["name"] in live.get("Job", {}):
        desired.append(pre_backup)
    start_now = {
        stack.names.migrations_job(stack.spec.release_hash): plan.start_migration,
        pre_backup["metadata"]["name"]: plan.start_backup,
    }
    if stack.spec.database.restore_from:
        start_now[stack.names.restore_job(stack.spec.database.restore_from)] = plan.start_restore
    wanted = {(o["kind"], o["metadata"]["name"]) for o in desired}

    for obj in desired:
        kind, name = obj["kind"], obj["metadata"]["name"]
        key = (kind, stack.namespace, name)
        current = live.get(kind, {}).get(name)
        if kind in CREATE_ONLY:
            # Release Jobs start when the plan says so; on-demand backups and claims at once.
            wanted_now = start_now.get(name, True)
            if not wanted_now or current is not None or recent.in_flight(key, "created", None):
                continue
            recent.record(key, "created", None)
            if kube.create(obj):
                write(f"{kind} {name}")
                if kind == "Job":
                    reason, what = _job_event(obj)
                    emit("Normal", reason, f"Created Job {name} ({what})")
            continue
        stamped = diff.with_applied_digest(obj)
        digest = stamped["metadata"]["annotations"][diff.APPLIED]
        if diff.up_to_date(stamped, current) or recent.in_flight(key, digest, current):
            continue
        if (
            current is not None
            and "replicas" not in obj.get("spec", {})
            and diff.applies_field(current, FIELD_MANAGER, "spec", "replicas")
        ):
            kube.hand_over_replicas(obj)
        kube.apply(stamped)
        recent.record(key, digest, current)
        write(f"{kind} {name}")
        log.info("Applied %s %s/%s", kind, stack.namespace, name)
        if kind == "Deployment" and _component(obj) in APP_TIERS and current is not None:
            before = released_from(current)
            if plan.serving is not None and before != plan.serving:
                emit("Normal", "Rollout", f"Rolling {name} to {plan.serving.image}")

    for kind in PRUNABLE:
        for name, obj in live.get(kind, {}).items():
            if (kind, name) in wanted or not _owned_by(obj, stack.metadata.uid):
                continue
            key = (kind, stack.namespace, name)
            if recent.in_flight(key, "deleted", obj):
                continue
            recent.record(key, "deleted", obj)
            kube.delete(obj["apiVersion"], kind, stack.namespace, name)
            write(f"delete {kind} {name}")
            emit("Normal", "Pruned", f"Deleted {kind} {name}, no longer in the spec")


def _emit_transitions(
    previous: DjangoStackStatus | None, status: DjangoStackStatus, emit: EventSink
) -> None:
    """One Event per change of the conditions people act on."""
    before = {c.type: c for c in (previous.conditions if previous else [])}
    for condition in status.conditions:
        old = before.get(condition.type)
        if old is not None and (old.status, old.reason) == (condition.status, condition.reason):
            continue
        if condition.type == "Ready" and condition.status == "True":
            emit("Normal", "Ready", condition.message)
        elif condition.type == "Stalled" and condition.status == "True":
            emit("Warning", condition.reason, condition.message)
        elif condition.type == "Migrated" and condition.reason in (
            "Succeeded",
            "Failed",
            "TimedOut",
        ):
            kind = "Normal" if condition.status == "True" else "Warning"
            emit(kind, f"Migration{condition.reason}", condition.message)


def _write_invalid_status(
    kube: Kube, body: dict[str, Any], message: str, now: str, outcome: Outcome
) -> None:
    metadata = body.get("metadata", {})
    current = (body.get("status") or {}).get("phase")
    if current == "Stalled":
        return
    status = {
        "observedGeneration": metadata.get("generation"),
        "phase": "Stalled",
        "conditions": [
            {
                "type": "Stalled",
                "status": "True",
                "reason": "InvalidSpec",
                "message": message,
                "observedGeneration": metadata.get("generation"),
                "lastTransitionTime": now,
            }
        ],
    }
    kube.patch_status(metadata.get("namespace", ""), metadata.get("name", ""), status)
    outcome.writes.append("status")
