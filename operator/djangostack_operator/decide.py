"""Decide, without talking to the API server, every write one reconcile makes.

`decide` takes what the caches show about one stack and returns the release plan, the
problems that block it (a missing Secret) and the list of intended writes, each a small
frozen value with the Event to post once it is done. The executor (reconcile.py) only
walks the list. Nothing here reads a clock, makes a random value or calls the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from djangostack_operator import diff
from djangostack_operator.kinds import BY_KIND, CREATE_ONLY, PRUNABLE
from djangostack_operator.references import ObjectInfo, config_digests, missing_references
from djangostack_operator.release import ReleasePlan, plan_release, released_from
from djangostack_operator.render import RenderContext, backup, meta, render
from djangostack_operator.render.django import BEAT, WEB, WORKER
from djangostack_operator.render.pod import referenced_config
from djangostack_operator.render.secrets import GeneratedSecret, generated_secrets
from djangostack_operator.spec import DjangoStack
from djangostack_operator.vocabulary import COMPONENT, FIELD_MANAGER

APP_TIERS = frozenset({WEB, WORKER, BEAT})
Children = Mapping[str, Mapping[str, dict[str, Any]]]  # kind -> name -> live object
# What the operator wrote recently and the watch has not shown yet, by (kind, namespace,
# name): (what was written — "created", "deleted" or the applied digest, the resourceVersion
# the object had before). See reconcile.RecentWrites.
InFlight = Mapping[tuple[str, str, str], tuple[str, str | None]]
Verb = Literal["create", "apply", "delete", "create-secret"]
CREATED = "created"
DELETED = "deleted"


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Write:
    """One intended write. `memory` is what is recorded as in flight once it is made."""

    verb: Verb
    kind: str
    name: str
    api_version: str
    memory: str
    body: dict[str, Any] = field(default_factory=dict, compare=False)
    live_version: str | None = None  # the resourceVersion it replaces (None: a new object)
    # apply only: co-own spec.replicas first, since the desired object stopped setting it
    hand_over_replicas: bool = False
    secret: GeneratedSecret | None = None  # create-secret only: what to generate
    event: Event | None = None

    def describe(self) -> str:
        return (
            f"delete {self.kind} {self.name}"
            if self.verb == "delete"
            else f"{self.kind} {self.name}"
        )


@dataclass(frozen=True)
class Decision:
    plan: ReleasePlan
    problems: tuple[tuple[str, str], ...]  # (reason, message) of input that blocks the stack
    writes: tuple[Write, ...]


def component(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata", {}).get("labels") or {}).get(COMPONENT, ""))


def _version(obj: Mapping[str, Any] | None) -> str | None:
    return None if obj is None else obj.get("metadata", {}).get("resourceVersion")


def _pending(in_flight: InFlight, key: tuple[str, str, str], what: str, live: Any) -> bool:
    """Our own write of `what` is on its way: the cache still shows the version it replaced."""
    return in_flight.get(key) == (what, _version(live))


def decide(
    stack: DjangoStack,
    children: Children,
    secrets: Mapping[str, ObjectInfo],
    config_maps: Mapping[str, ObjectInfo],
    in_flight: InFlight,
) -> Decision:
    plan = release_plan(stack, children)
    problems = missing_references(stack, secrets, config_maps)
    secret_writes, secret_problems = _secret_writes(stack, secrets, in_flight)
    problems += secret_problems
    writes = list(secret_writes)
    if not problems:
        writes += child_writes(
            stack,
            children=children,
            secrets=secrets,
            config_maps=config_maps,
            plan=plan,
            in_flight=in_flight,
        )
    return Decision(plan, tuple(problems), tuple(writes))


def release_plan(stack: DjangoStack, children: Children) -> ReleasePlan:
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


def _secret_writes(
    stack: DjangoStack, secrets: Mapping[str, ObjectInfo], in_flight: InFlight
) -> tuple[list[Write], list[tuple[str, str]]]:
    """Create each generated Secret once; never touch one that exists (the user's included)."""
    writes: list[Write] = []
    problems: list[tuple[str, str]] = []
    for wanted in generated_secrets(stack):
        existing = secrets.get(wanted.name)
        if existing is not None:
            missing = [key for key in wanted.keys if key not in existing.keys]
            if missing:
                problems.append(
                    ("SecretKeyMissing", f"Secret {wanted.name} has no key {', '.join(missing)}")
                )
            continue
        if _pending(in_flight, ("Secret", stack.namespace, wanted.name), CREATED, None):
            continue
        metadata = meta.metadata(
            stack,
            wanted.name,
            wanted.component,
            # With Retain the passwords must outlive the stack, like the data they protect.
            owned=stack.spec.deletion_policy == "Delete",
        )
        writes.append(
            Write(
                "create-secret", "Secret", wanted.name, "v1", CREATED,
                body={"metadata": metadata}, secret=wanted,
                event=Event("Normal", "SecretCreated", f"Created Secret {wanted.name}"),
            )
        )  # fmt: skip
    return writes, problems


def desired_children(
    stack: DjangoStack,
    children: Children,
    secrets: Mapping[str, ObjectInfo],
    config_maps: Mapping[str, ObjectInfo],
    plan: ReleasePlan,
) -> tuple[list[dict[str, Any]], dict[str, bool]]:
    """The objects the stack should have now, and for each release Job whether to start it."""
    refs = referenced_config(stack)
    context = RenderContext(
        release=plan.serving, config_digests=config_digests(refs, secrets, config_maps)
    )
    desired = render(stack, context)
    if plan.serving is None:
        # Nothing is migrated yet: the app tiers wait for the first release.
        desired = [
            o for o in desired if not (o["kind"] == "Deployment" and component(o) in APP_TIERS)
        ]
    if plan.hold:
        # A restore is running: no app pod may write to the database meanwhile.
        for obj in desired:
            if obj["kind"] == "Deployment" and component(obj) in APP_TIERS:
                obj["spec"]["replicas"] = 0
    pre_backup = backup.pre_migration_backup_job(stack)
    if plan.start_backup or pre_backup["metadata"]["name"] in children.get("Job", {}):
        desired.append(pre_backup)
    start_now = {
        stack.names.migrations_job(stack.spec.release_hash): plan.start_migration,
        pre_backup["metadata"]["name"]: plan.start_backup,
    }
    if stack.spec.database.restore_from:
        start_now[stack.names.restore_job(stack.spec.database.restore_from)] = plan.start_restore
    return desired, start_now


def child_writes(
    stack: DjangoStack,
    *,
    children: Children,
    secrets: Mapping[str, ObjectInfo],
    config_maps: Mapping[str, ObjectInfo],
    plan: ReleasePlan,
    in_flight: InFlight,
) -> list[Write]:
    desired, start_now = desired_children(stack, children, secrets, config_maps, plan)
    writes: list[Write] = []
    for obj in desired:
        kind, name = obj["kind"], obj["metadata"]["name"]
        key = (kind, stack.namespace, name)
        current = children.get(kind, {}).get(name)
        if kind in CREATE_ONLY:
            # Release Jobs start when the plan says so; on-demand backups and claims at once.
            if not start_now.get(name, True) or current is not None:
                continue
            if _pending(in_flight, key, CREATED, None):
                continue
            event = _job_event(obj) if kind == "Job" else None
            writes.append(Write("create", kind, name, obj["apiVersion"], CREATED, obj, event=event))
            continue
        stamped = diff.with_applied_digest(obj)
        digest = stamped["metadata"]["annotations"][diff.APPLIED]
        if diff.up_to_date(stamped, current) or _pending(in_flight, key, digest, current):
            continue
        hand_over = (
            current is not None
            and "replicas" not in obj.get("spec", {})
            and diff.applies_field(current, FIELD_MANAGER, "spec", "replicas")
        )
        event = None
        if (
            kind == "Deployment"
            and component(obj) in APP_TIERS
            and current is not None
            and plan.serving is not None
            and released_from(current) != plan.serving
        ):
            event = Event("Normal", "Rollout", f"Rolling {name} to {plan.serving.image}")
        writes.append(
            Write(
                "apply", kind, name, obj["apiVersion"], digest, stamped,
                live_version=_version(current), hand_over_replicas=hand_over, event=event,
            )
        )  # fmt: skip
    wanted = {(o["kind"], o["metadata"]["name"]) for o in desired}
    for kind in sorted(PRUNABLE):
        for name, obj in sorted(children.get(kind, {}).items()):
            if (kind, name) in wanted or not _owned_by(obj, stack.metadata.uid):
                continue
            key = (kind, stack.namespace, name)
            if _pending(in_flight, key, DELETED, obj):
                continue
            writes.append(
                Write(
                    "delete", kind, name, BY_KIND[kind].api_version, DELETED,
                    live_version=_version(obj),
                    event=Event("Normal", "Pruned", f"Deleted {kind} {name}, not in the spec"),
                )
            )  # fmt: skip
    return writes


def _owned_by(obj: Mapping[str, Any], uid: str | None) -> bool:
    return any(
        ref.get("uid") == uid and ref.get("controller")
        for ref in obj.get("metadata", {}).get("ownerReferences") or []
    )


def _job_event(job: Mapping[str, Any]) -> Event:
    """The Event of a Job the operator creates."""
    annotations = job["metadata"].get("annotations") or {}
    name = job["metadata"]["name"]
    purpose = annotations.get(backup.PURPOSE)
    if purpose == "restore":
        return Event("Normal", "RestoreStarted", f"Created Job {name} (restore)")
    if purpose is not None:
        return Event("Normal", "BackupStarted", f"Created Job {name} ({purpose} backup)")
    image = annotations.get(meta.RELEASE_IMAGE, "")
    return Event("Normal", "MigrationStarted", f"Created Job {name} (migrations for {image})")
