"""One pass over one stack: observe (from the caches), decide (pure), write, report.

`reconcile` is the imperative shell around decide.py and status.py: it walks the intended
writes, keeps going past a write the API server refuses (so one bad child does not starve
the others), and always finishes with the status — naming every failure — unless the API
server cannot be reached at all. An idle pass reads nothing from and writes nothing to the
API server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import ValidationError

from djangostack_operator import secretgen, stackmetrics
from djangostack_operator.cache import StackSlice
from djangostack_operator.decide import (
    DEFAULT_POLICY,
    Decision,
    Event,
    InFlight,
    Write,
    component,
    decide,
)
from djangostack_operator.kube import ApiError, Kube
from djangostack_operator.policy import Policy
from djangostack_operator.references import WAITING_FOR_SECRET, ObjectInfo, secret_names
from djangostack_operator.render.backup import BACKUP
from djangostack_operator.render.ingress import tls_secret_name
from djangostack_operator.render.pod import Release
from djangostack_operator.spec import DjangoStack
from djangostack_operator.stackmetrics import StackSample
from djangostack_operator.status import (
    KIND_NOT_SERVED,
    Observation,
    WriteFailure,
    compute_status,
)
from djangostack_operator.status_types import DjangoStackStatus, Reason
from djangostack_operator.validation import InvalidStackError, parse_stack

EventSink = Callable[[Event], None]
# Reads the named Secrets of the stack's namespace (those that exist), by name.
SecretReader = Callable[[list[str]], Mapping[str, ObjectInfo]]
# A write of ours not yet seen in the watch cache after this long is made again.
ECHO_SECONDS = 30.0
# Failures after which the rest of a pass is pointless: nothing of the namespace can be
# written (it is being deleted, or gone) or the API server is not answering.
ABORTING = (0, 403, 404)

log = logging.getLogger("djangostack_operator")


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
        self.written: dict[tuple[str, str, str], tuple[str, str | None, float]] = {}
        self.lock = threading.Lock()

    def snapshot(self, namespace: str) -> InFlight:
        now = self.clock()
        with self.lock:
            return {
                key: (what, version)
                for key, (what, version, at) in self.written.items()
                if key[1] == namespace and now - at <= ECHO_SECONDS
            }

    def record(self, key: tuple[str, str, str], what: str, version: str | None) -> None:
        with self.lock:
            now = self.clock()
            self.written[key] = (what, version, now)
            for stale in [k for k, (_, _, at) in self.written.items() if now - at > ECHO_SECONDS]:
                del self.written[stale]


@dataclass
class Outcome:
    writes: list[str] = field(default_factory=list)
    failures: list[WriteFailure] = field(default_factory=list)
    status: DjangoStackStatus | None = None
    # The status could not be written either: only the log and Events tell.
    status_failure: ApiError | None = None
    # Names of the Secrets this pass wrote (their next read must not come from memory).
    secrets_written: list[str] = field(default_factory=list)
    # The stack is blocked on a Secret that is missing or lacks a key: no watch says when
    # that changes, so it looks again soon.
    waits_for_secret: bool = False
    # What the per-stack metrics say of the stack after this pass.
    sample: StackSample | None = None

    @property
    def failed(self) -> bool:
        return bool(self.failures) or self.status_failure is not None

    @property
    def unreachable(self) -> bool:
        """Every failure was the API server not answering (or throttling): a short retry."""
        failures = [f.status for f in self.failures]
        if self.status_failure is not None:
            failures.append(self.status_failure.status)
        return bool(failures) and all(s in {0, 429} or s >= 500 for s in failures)


def previous_status(body: dict[str, Any]) -> DjangoStackStatus | None:
    raw = body.get("status") or {}
    known = {k: v for k, v in raw.items() if k in DjangoStackStatus.model_fields or k in _ALIASES}
    try:
        return DjangoStackStatus.model_validate(known)
    except ValidationError:
        return None


_ALIASES = {f.alias for f in DjangoStackStatus.model_fields.values() if f.alias}


def reconcile(
    kube: Kube,
    observed: StackSlice,
    *,
    in_flight: InFlight,
    last_written: DjangoStackStatus | None,
    now: str,
    emit: EventSink,
    recent: RecentWrites,
    read_secrets: SecretReader | None = None,
    policy: Policy = DEFAULT_POLICY,
    unserved: frozenset[str] = frozenset(),
) -> Outcome:
    """`read_secrets` reads the stack's Secrets by name; without it they come from
    `observed` (for tests that hand in a complete slice)."""
    outcome = Outcome()
    body = observed.body
    assert body is not None
    try:
        stack = parse_stack(body)
    except InvalidStackError as error:
        message = "; ".join(error.problems)
        log.warning(
            "DjangoStack %s/%s is invalid: %s",
            body["metadata"].get("namespace"), body["metadata"].get("name"), message,
        )  # fmt: skip
        _write_stalled_status(
            kube, body, reason=Reason.INVALID_SPEC, message=message, now=now, outcome=outcome,
            emit=emit,
        )  # fmt: skip
        return outcome
    if read_secrets is not None:
        try:
            observed = replace(observed, secrets=read_secrets(secret_names(stack)))
        except ApiError as failure:
            _secrets_unreadable(kube, body, failure, now=now, outcome=outcome, emit=emit)
            return outcome
    try:
        _reconcile_valid(
            kube, stack, body, observed=observed, in_flight=in_flight,
            last_written=last_written, now=now, emit=emit, recent=recent, outcome=outcome,
            policy=policy, unserved=unserved,
        )  # fmt: skip
    except Exception as error:  # a bug of ours: a status and an Event, never only a log line
        log.exception("Reconcile of DjangoStack %s/%s raised", stack.namespace, stack.name)
        message = f"the operator failed: {type(error).__name__}: {error}"
        outcome.failures.append(WriteFailure(f"DjangoStack {stack.name}", -1, message))
        _write_stalled_status(
            kube, body, reason=Reason.INTERNAL_ERROR, message=message, now=now, outcome=outcome,
            emit=emit,
        )  # fmt: skip
    return outcome


def _reconcile_valid(
    kube: Kube,
    stack: DjangoStack,
    body: dict[str, Any],
    *,
    observed: StackSlice,
    in_flight: InFlight,
    last_written: DjangoStackStatus | None,
    now: str,
    emit: EventSink,
    recent: RecentWrites,
    outcome: Outcome,
    policy: Policy,
    unserved: frozenset[str],
) -> None:
    stored = previous_status(body)
    # What we wrote last is newer than what the watch has shown us, when we have it.
    previous = last_written or stored
    decision = decide(
        stack, observed.children, observed.secrets, observed.config_maps, in_flight,
        recorded=_recorded_release(previous), taken=observed.taken, policy=policy, now=now,
        unserved=unserved,
    )  # fmt: skip
    _execute(kube, stack.namespace, decision=decision, outcome=outcome, emit=emit, recent=recent)
    outcome.waits_for_secret = any(reason in WAITING_FOR_SECRET for reason, _ in decision.problems)

    tls_secret = tls_secret_name(stack) or ""
    tls_info = observed.secrets.get(tls_secret)
    tls_written = tls_secret in outcome.secrets_written
    observation = Observation(
        children=observed.children,
        plan=decision.plan,
        # A TLS Secret this pass created counts: the watch shows it a moment later, and a
        # status saying "waiting for the certificate" would be wrong and written twice.
        tls_secret_present=tls_secret in observed.secrets or tls_written,
        tls_not_after=None if tls_written else tls_info.not_after if tls_info else None,
        problems=decision.problems,
        unserved=decision.unserved,
        backups=tuple(
            j for j in observed.children.get("Job", {}).values() if component(j) == BACKUP
        ),
        failures=tuple(outcome.failures),
    )
    status = compute_status(stack, observation, previous, now)
    outcome.status = status
    outcome.sample = stackmetrics.sample(
        stack, status, previous, tls_not_after=observation.tls_not_after,
        jobs=observed.children.get("Job", {}), now=now,
    )  # fmt: skip
    if status not in (stored, last_written):
        try:
            kube.patch_status(
                stack.namespace, stack.name, status.model_dump(mode="json", by_alias=True)
            )
        except ApiError as failure:
            outcome.status_failure = failure
            outcome.status = None
            log.warning(
                "Failed to write the status of DjangoStack %s/%s: %s",
                stack.namespace, stack.name, failure,
            )  # fmt: skip
            return
        outcome.writes.append(f"status of DjangoStack {stack.name}")
        for event in transition_events(previous, status):
            emit(event)


def _execute(
    kube: Kube,
    namespace: str,
    *,
    decision: Decision,
    outcome: Outcome,
    emit: EventSink,
    recent: RecentWrites,
) -> None:
    for write in decision.writes:
        key = (write.in_flight_key, namespace, write.name)
        try:
            done = _perform(kube, namespace, write)
        except ApiError as failure:
            # An apply without force meets fields someone else manages: an object of that
            # name exists and is not ours. It is left alone until a person sorts it out.
            conflict = failure.status == 409 and write.verb == "apply"
            outcome.failures.append(
                WriteFailure(
                    write.describe(),
                    failure.status,
                    f"an object of this name exists and is not the stack's: {failure.message}"
                    if conflict
                    else failure.message,
                    conflict=conflict,
                )
            )
            log.warning("Failed to write %s in %s: %s", write.describe(), namespace, failure)
            if failure.status in ABORTING:
                break
            continue
        except Exception as error:  # a bug of ours: reported like a refusal, never silent
            log.exception("Failed to write %s in %s", write.describe(), namespace)
            outcome.failures.append(
                WriteFailure(write.describe(), -1, f"{type(error).__name__}: {error}")
            )
            continue
        recent.record(key, write.memory, write.live_version)
        if write.kind == "Secret":
            outcome.secrets_written.append(write.name)
        if done:
            outcome.writes.append(write.describe())
            if write.verb == "apply":
                log.info("Applied %s %s/%s", write.kind, namespace, write.name)
            if write.event is not None:
                emit(write.event)


def _perform(kube: Kube, namespace: str, write: Write) -> bool:
    """Make one write; False when it turned out to be needless (the object existed)."""
    if write.verb == "create-secret":
        assert write.secret is not None
        secret_type, data = secretgen.secret_data(write.secret)
        return kube.create_secret(namespace, write.body["metadata"], secret_type, data)
    if write.verb == "create":
        return kube.create(write.body)
    if write.verb == "regenerate-secret":
        assert write.secret is not None
        _, data = secretgen.secret_data(write.secret)
        kube.rewrite_secret(namespace, write.name, write.body["metadata"], data)
        return True
    if write.verb == "set-owner":
        kube.patch_metadata(write.api_version, write.kind, namespace, write.name, write.body)
        return True
    if write.verb == "delete":
        kube.delete(write.api_version, write.kind, namespace, write.name)
        return True
    if write.hand_over_replicas:
        kube.hand_over_replicas(write.body)
    # Force only over an object the caches show as the stack's own; one they do not show
    # may be someone else's, and the API server then refuses with a conflict.
    kube.apply(write.body, force=write.live_version is not None)
    return True


def _secrets_unreadable(
    kube: Kube,
    body: dict[str, Any],
    failure: ApiError,
    *,
    now: str,
    outcome: Outcome,
    emit: EventSink,
) -> None:
    """Without its Secrets nothing about the stack can be decided (a missing one looks like
    one to create). A refusal (RBAC: the operator may only get Secrets by name) stalls the
    stack and says so; no answer is only retried, since the status could not be written."""
    name = body["metadata"].get("name", "")
    failed = WriteFailure(f"Secrets of DjangoStack {name}", failure.status,
                          f"reading them failed: {failure.message}")  # fmt: skip
    outcome.failures.append(failed)
    log.warning("Reading the Secrets of DjangoStack %s/%s failed: %s",
                body["metadata"].get("namespace"), name, failure)  # fmt: skip
    if failed.permanent:
        _write_stalled_status(
            kube, body, reason=failed.reason, message=failed.describe(), now=now,
            outcome=outcome, emit=emit,
        )  # fmt: skip


def _recorded_release(status: DjangoStackStatus | None) -> Release | None:
    if status is None or not status.released_image or not status.release_hash:
        return None
    return Release(status.released_image, status.release_hash)


def transition_events(previous: DjangoStackStatus | None, status: DjangoStackStatus) -> list[Event]:
    """One Event per change of the conditions people act on."""
    events: list[Event] = []
    before = {c.type: c for c in (previous.conditions if previous else [])}
    for condition in status.conditions:
        old = before.get(condition.type)
        if old is not None and (old.status, old.reason) == (condition.status, condition.reason):
            continue
        if condition.type == "Ready" and condition.status == "True":
            events.append(Event("Normal", "Ready", condition.message))
        elif condition.type == "Stalled" and condition.status == "True":
            events.append(Event("Warning", condition.reason, condition.message))
        elif condition.type == "MonitoringReady" and condition.reason == KIND_NOT_SERVED:
            events.append(Event("Warning", KIND_NOT_SERVED, condition.message))
        elif condition.type == "Migrated" and condition.reason in (
            "Succeeded",
            "Failed",
            "TimedOut",
        ):
            kind: Literal["Normal", "Warning"] = (
                "Normal" if condition.status == "True" else "Warning"
            )
            events.append(Event(kind, f"Migration{condition.reason}", condition.message))
    return events


def _write_stalled_status(
    kube: Kube,
    body: dict[str, Any],
    *,
    reason: Reason,
    message: str,
    now: str,
    outcome: Outcome,
    emit: EventSink,
) -> None:
    """Stall a stack the full status cannot be computed for: one the models refuse (before
    any child is written), or one whose reconcile raised."""
    outcome.sample = StackSample(ready=False, phase="Stalled")
    metadata = body.get("metadata", {})
    generation = metadata.get("generation")
    current = body.get("status") or {}
    conditions: list[dict[str, Any]] = current.get("conditions") or []
    stalled = next((c for c in conditions if c.get("type") == "Stalled"), {})
    if (
        current.get("phase") == "Stalled"
        and stalled.get("reason") == reason
        and stalled.get("message") == message
        and current.get("observedGeneration") == generation
    ):
        return

    def condition(kind: str, status: str, reason: str) -> dict[str, Any]:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "observedGeneration": generation,
            "lastTransitionTime": now,
        }

    status = {
        "observedGeneration": generation,
        "phase": "Stalled",
        "conditions": [
            condition("Ready", "False", reason),
            condition("Reconciling", "False", reason),
            condition("Stalled", "True", reason),
        ],
    }
    try:
        kube.patch_status(metadata.get("namespace", ""), metadata.get("name", ""), status)
    except ApiError as failure:
        outcome.status_failure = failure
        return
    outcome.writes.append("status")
    if reason == Reason.INVALID_SPEC:  # an internal error's Event comes with the failures
        emit(Event("Warning", reason, message))
