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

from djangostack_operator import certificates, diff
from djangostack_operator.kinds import BY_KIND, CREATE_ONLY, PRUNABLE
from djangostack_operator.policy import Policy, policy_problems
from djangostack_operator.references import (
    SECRET_KEY_MISSING,
    ObjectInfo,
    config_digests,
    missing_references,
)
from djangostack_operator.release import ReleasePlan, plan_release, released_from
from djangostack_operator.render import RenderContext, backup, meta, render
from djangostack_operator.render.django import BEAT, WEB, WORKER
from djangostack_operator.render.pod import Release, referenced_config
from djangostack_operator.render.secrets import GeneratedSecret, generated_secrets
from djangostack_operator.spec import DjangoStack
from djangostack_operator.status_types import Reason
from djangostack_operator.vocabulary import COMPONENT, FIELD_MANAGER, MADE_FOR

APP_TIERS = frozenset({WEB, WORKER, BEAT})
# What a decision allows when the operator was given no policy: the built-in allow-lists.
DEFAULT_POLICY = Policy()
Children = Mapping[str, Mapping[str, dict[str, Any]]]  # kind -> name -> live object
# What the operator wrote recently and the watch has not shown yet, by (kind, namespace,
# name): (what was written — "created", "deleted" or the applied digest, the resourceVersion
# the object had before). See reconcile.RecentWrites.
InFlight = Mapping[tuple[str, str, str], tuple[str, str | None]]
Verb = Literal["create", "apply", "delete", "create-secret", "regenerate-secret", "set-owner"]
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
    # create-secret, regenerate-secret: what to generate
    secret: GeneratedSecret | None = None
    event: Event | None = None

    @property
    def in_flight_key(self) -> str:
        """The kind it is remembered under while in flight: an owner change is its own write."""
        return f"owner/{self.kind}" if self.verb == "set-owner" else self.kind

    def describe(self) -> str:
        if self.verb == "delete":
            return f"delete {self.kind} {self.name}"
        if self.verb == "set-owner":
            return f"owner of {self.kind} {self.name}"
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Decision:
    plan: ReleasePlan
    problems: tuple[tuple[str, str], ...]  # (reason, message) of input that blocks the stack
    writes: tuple[Write, ...]
    # Kinds the stack wants a child of that the cluster does not serve (kinds.OPTIONAL).
    unserved: tuple[str, ...] = ()


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
    *,
    recorded: Release | None = None,
    taken: Mapping[tuple[str, str], str] | None = None,
    policy: Policy = DEFAULT_POLICY,
    now: str | None = None,
    unserved: frozenset[str] = frozenset(),
) -> Decision:
    """`recorded`: the serving release the last status recorded. `taken`: (kind, name) of
    objects in the namespace that belong to another stack, with a word on which. `policy`:
    what the operator allows every stack; what it refuses blocks every child write. `now`
    (vocabulary.TIME_FORMAT): renews the operator's own certificate ahead of its expiry.
    `unserved`: optional kinds the cluster does not serve; their children are left out."""
    plan = release_plan(stack, children, recorded)
    problems = policy_problems(stack, policy)
    problems += missing_references(stack, secrets, config_maps)
    secret_writes, secret_problems = _secret_writes(stack, secrets, children, in_flight, now)
    problems += secret_problems
    writes = list(secret_writes)
    missing_kinds: list[str] = []
    if not problems:
        more, conflicts, missing_kinds = child_writes(
            stack,
            children=children,
            secrets=secrets,
            config_maps=config_maps,
            plan=plan,
            in_flight=in_flight,
            taken=taken or {},
            unserved=unserved,
        )
        writes += more
        problems += conflicts
    return Decision(plan, tuple(problems), tuple(writes), tuple(missing_kinds))


def serving_release(
    stack: DjangoStack, children: Children, recorded: Release | None
) -> Release | None:
    """The release the app tiers serve, read from every record of it, so that losing any one
    (a deleted Deployment, a status wiped by a restore of the object) loses nothing.

    Each app Deployment carries the release it runs and the status records the one the
    operator last rolled. They disagree only while a roll is under way or after a loss; a
    record of the desired release means it was migrated, so it wins; otherwise web's (the
    tier rolled first), then the status's, then a pool's or beat's.
    """
    deployments = children.get("Deployment", {})
    names = stack.names
    tiers = [names.web, *(names.worker(pool.name) for pool in stack.spec.workers), names.beat]
    found = [released_from(deployments.get(name)) for name in tiers]
    records = [found[0], recorded, *found[1:]]
    known = [release for release in records if release is not None]
    desired = next((r for r in known if r.hash == stack.spec.release_hash), None)
    return desired or next(iter(known), None)


def release_plan(
    stack: DjangoStack, children: Children, recorded: Release | None = None
) -> ReleasePlan:
    released = serving_release(stack, children, recorded)
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
    stack: DjangoStack,
    secrets: Mapping[str, ObjectInfo],
    children: Children,
    in_flight: InFlight,
    now: str | None,
) -> tuple[list[Write], list[tuple[str, str]]]:
    """Create each generated Secret once and never change its values, with two exceptions
    that follow the spec: a self-signed certificate is made again for a new host, and the
    owner follows deletionPolicy (with Retain the passwords outlive the stack, like the data
    they protect). A Secret that is gone while the data made with it remains is not made
    again: new values would not fit that data, so the stack stalls and says so."""
    writes: list[Write] = []
    problems: list[tuple[str, str]] = []
    claims = children.get("PersistentVolumeClaim", {})
    for wanted in generated_secrets(stack):
        key = ("Secret", stack.namespace, wanted.name)
        existing = secrets.get(wanted.name)
        if existing is not None:
            missing = [k for k in wanted.keys if k not in existing.keys]
            if missing:
                problems.append(
                    (SECRET_KEY_MISSING, f"Secret {wanted.name} has no key {', '.join(missing)}")
                )
            made_for = wanted.made_for
            why = _renewal(wanted, existing, now)
            if made_for is not None and why and not _pending(in_flight, key, made_for, None):
                writes.append(
                    Write(
                        "regenerate-secret", "Secret", wanted.name, "v1", made_for,
                        body={"metadata": _made_for(wanted)}, secret=wanted,
                        event=Event("Normal", "CertificateRenewed",
                                    f"Made a new self-signed certificate for {wanted.host}"
                                    f" ({why})"),
                    )
                )  # fmt: skip
            # A Secret the user made under this name (their own password) stays theirs.
            owner_write = _owner_write(stack, "Secret", wanted.name, existing.owner, in_flight)
            if owner_write is not None and existing.ours:
                writes.append(owner_write)
            continue
        if _pending(in_flight, key, CREATED, None):
            continue
        kept = [claim for claim in wanted.guards if _live(claims.get(claim))]
        if kept:
            problems.append(
                (
                    Reason.SECRET_LOST,
                    f"Secret {wanted.name} is gone but volume claim {', '.join(kept)} holds"
                    " data made with its values; restore the Secret (e.g. from your backup of"
                    " it), or delete the claim to start with empty data",
                )
            )
            continue
        metadata = meta.metadata(
            stack, wanted.name, wanted.component, owned=_owned(stack),
            annotations=_made_for(wanted).get("annotations"),
        )  # fmt: skip
        writes.append(
            Write(
                "create-secret", "Secret", wanted.name, "v1", CREATED,
                body={"metadata": metadata}, secret=wanted,
                event=Event("Normal", "SecretCreated", f"Created Secret {wanted.name}"),
            )
        )  # fmt: skip
    return writes, problems


def _renewal(wanted: GeneratedSecret, existing: ObjectInfo, now: str | None) -> str:
    """Why the operator's own certificate must be made again ("" when it need not): made
    for another host, unreadable, or expiring within certificates.RENEW_BEFORE."""
    if wanted.made_for is None:
        return ""
    if existing.made_for != wanted.made_for:
        return f"the last one was for {existing.made_for or 'another host'}"
    if not existing.ours or now is None or existing.not_after is None:
        return ""
    if existing.not_after == "":
        return "tls.crt held no readable certificate"
    if certificates.expires_within(existing.not_after, now, certificates.RENEW_BEFORE):
        return f"the last one expires at {existing.not_after}"
    return ""


def _made_for(wanted: GeneratedSecret) -> dict[str, Any]:
    return {"annotations": {MADE_FOR: wanted.made_for}} if wanted.made_for else {}


def _live(obj: Mapping[str, Any] | None) -> bool:
    return obj is not None and not obj.get("metadata", {}).get("deletionTimestamp")


def _owned(stack: DjangoStack) -> bool:
    """Objects that keep data (generated Secrets, the backup claim) go with the stack only
    with deletionPolicy Delete; the data volumes follow through their StatefulSet."""
    return stack.spec.deletion_policy == "Delete"


def _owner_write(
    stack: DjangoStack, kind: str, name: str, owner: str | None, in_flight: InFlight
) -> Write | None:
    """Make the object's owner follow deletionPolicy, when it does not already."""
    owned = _owned(stack)
    if (owner == stack.metadata.uid) == owned and (owned or owner is None):
        return None
    what = "owned" if owned else "kept"
    references = [meta.owner_reference(stack)] if owned else None
    write = Write(
        "set-owner", kind, name, BY_KIND[kind].api_version if kind in BY_KIND else "v1", what,
        body={"metadata": {"ownerReferences": references}},
    )  # fmt: skip
    if _pending(in_flight, (write.in_flight_key, stack.namespace, name), what, None):
        return None
    return write


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
    taken: Mapping[tuple[str, str], str],
    unserved: frozenset[str] = frozenset(),
) -> tuple[list[Write], list[tuple[str, str]], list[str]]:
    """The writes that make the children what the stack says; the names it cannot have
    because another stack (or an earlier stack of this name, not yet gone) holds them:
    those are left alone, never fought over; and the kinds it wants that are not served."""
    rendered, start_now = desired_children(stack, children, secrets, config_maps, plan)
    desired = [obj for obj in rendered if obj["kind"] not in unserved]
    missing_kinds = sorted({obj["kind"] for obj in rendered if obj["kind"] in unserved})
    writes: list[Write] = []
    conflicts: list[tuple[str, str]] = []
    for obj in desired:
        kind, name = obj["kind"], obj["metadata"]["name"]
        key = (kind, stack.namespace, name)
        current = children.get(kind, {}).get(name)
        holder = taken.get((kind, name)) or _other_controller(current, stack.metadata.uid)
        if holder is not None:
            conflicts.append(
                (
                    Reason.NAME_CONFLICT,
                    f"{kind} {name} belongs to {holder}; the stack leaves it alone",
                )
            )
            continue
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
    claim = children.get("PersistentVolumeClaim", {}).get(stack.names.backup_pvc)
    if claim is not None and _other_controller(claim, stack.metadata.uid) is None:
        owner = next((r.get("uid") for r in claim["metadata"].get("ownerReferences") or []), None)
        owner_write = _owner_write(
            stack, "PersistentVolumeClaim", stack.names.backup_pvc, owner, in_flight
        )
        if owner_write is not None:
            writes.append(owner_write)
    return writes, conflicts, missing_kinds


def _other_controller(obj: Mapping[str, Any] | None, uid: str | None) -> str | None:
    """Who controls `obj`, when it is not the stack of `uid`."""
    for ref in (obj or {}).get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid") != uid:
            return f"{ref.get('kind')} {ref.get('name')} (uid {ref.get('uid')})"
    return None


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
