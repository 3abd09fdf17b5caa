"""The executor: it goes on past a refused write, and every failure reaches the status."""

from __future__ import annotations

from typing import Any

import pytest

from djangostack_operator import reconcile as reconcile_module
from djangostack_operator.cache import StackSlice
from djangostack_operator.decide import Event
from djangostack_operator.kinds import CHILD_KINDS
from djangostack_operator.kube import ApiError
from djangostack_operator.reconcile import RecentWrites, reconcile
from djangostack_operator.references import ObjectInfo
from tests.factories import stack_object

NOW = "2026-12-01T10:00:00Z"


class RecordingKube:
    """Records every write; refuses the kinds in `refuse` with the API server's message."""

    def __init__(self, refuse: dict[str, ApiError] | None = None) -> None:
        self.refuse = refuse or {}
        self.applied: list[str] = []
        self.statuses: list[dict[str, Any]] = []

    def _maybe_refuse(self, obj: dict[str, Any]) -> None:
        if obj["kind"] in self.refuse:
            raise self.refuse[obj["kind"]]

    def apply(self, obj: dict[str, Any], force: bool = True) -> None:
        self._maybe_refuse(obj)
        self.applied.append(f"{obj['kind']} {obj['metadata']['name']}")

    def create(self, obj: dict[str, Any]) -> bool:
        self._maybe_refuse(obj)
        self.applied.append(f"{obj['kind']} {obj['metadata']['name']}")
        return True

    def create_secret(self, namespace: str, metadata: dict[str, Any], *_: Any) -> bool:
        self.applied.append(f"Secret {metadata['name']}")
        return True

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.statuses.append(status)


def run(kube: RecordingKube, events: list[Event]) -> Any:
    return run_reading(kube, None, emit=events.append)


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in status["conditions"]}


def test_a_refused_child_is_named_in_the_status_and_the_other_writes_go_ahead() -> None:
    refusal = ApiError(422, "Invalid", 'CronJob.batch "shop-backup" is invalid: spec.schedule')
    kube = RecordingKube(refuse={"CronJob": refusal})
    events: list[Event] = []
    outcome = run(kube, events)
    assert outcome.failed and not outcome.unreachable
    assert "StatefulSet shop-postgres" in kube.applied
    assert "ConfigMap shop-scripts" in kube.applied  # rendered after the CronJob's turn too
    (status,) = kube.statuses
    stalled = conditions(status)["Stalled"]
    assert stalled[:2] == ("True", "ChildRejected")
    assert (
        stalled[2]
        == 'CronJob shop-backup: CronJob.batch "shop-backup" is invalid: spec.schedule (422)'
    )
    assert status["phase"] == "Stalled"
    assert any(e.reason == "ChildRejected" for e in events)


def test_an_unanswered_write_is_retrying_not_stalled() -> None:
    kube = RecordingKube(refuse={"NetworkPolicy": ApiError(0, "Unreachable", "no answer")})
    outcome = run(kube, [])
    assert outcome.unreachable
    # No answer: the rest of the pass is skipped, but the status (if it can be written) says so.
    assert not [w for w in kube.applied if not w.startswith("Secret")]
    (status,) = kube.statuses
    found = conditions(status)
    assert found["Stalled"][0] == "False"
    assert found["Reconciling"][:2] == ("True", "Retrying")
    assert found["Ready"][:2] == ("False", "APIUnavailable")
    assert status["phase"] == "Degraded"


def test_an_exception_in_the_operator_becomes_an_internal_error_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("spec")

    monkeypatch.setattr(reconcile_module, "decide", broken)
    kube = RecordingKube()
    outcome = run(kube, [])
    assert outcome.failed
    (status,) = kube.statuses
    assert conditions(status)["Stalled"][:2] == ("True", "InternalError")
    assert "KeyError" in conditions(status)["Stalled"][2]


def test_an_invalid_stack_is_stalled_by_field_before_any_write() -> None:
    kube = RecordingKube()
    body = stack_object(backup={"schedule": "99 99 * * *"})
    observed = StackSlice(body, {}, {}, {})
    events: list[Event] = []
    reconcile(kube, observed, in_flight={}, last_written=None, now=NOW,  # type: ignore[arg-type]
              emit=events.append, recent=RecentWrites())  # fmt: skip
    assert kube.applied == []
    (status,) = kube.statuses
    assert conditions(status)["Stalled"][:2] == ("True", "InvalidSpec")
    assert conditions(status)["Stalled"][2].startswith("spec.backup.schedule:")
    assert [e.reason for e in events] == ["InvalidSpec"]


def test_a_tls_secret_made_in_this_pass_counts_as_present_in_its_status() -> None:
    """Otherwise the first status says "waiting for the certificate" and is written again as
    soon as the watch shows the Secret."""
    kube = RecordingKube()
    run(kube, [])
    assert "Secret shop-tls" in kube.applied
    (status,) = kube.statuses
    assert conditions(status)["TLSReady"][:2] == ("True", "CertificateReady")


def run_reading(
    kube: RecordingKube, read_secrets: Any, emit: Any = lambda _: None, **spec: Any
) -> Any:
    """One pass over a new stack; `read_secrets` None: the (empty) Secrets of the slice."""
    body = stack_object(**spec)
    body["metadata"]["generation"] = 1
    observed = StackSlice(body, {c.kind: {} for c in CHILD_KINDS}, {}, {})
    return reconcile(
        kube,  # type: ignore[arg-type]
        observed,
        in_flight={},
        last_written=None,
        now=NOW,
        emit=emit,
        recent=RecentWrites(),
        read_secrets=read_secrets,
    )


def test_the_secrets_read_by_name_are_what_the_pass_decides_on() -> None:
    asked: list[list[str]] = []

    def read(names: list[str]) -> dict[str, ObjectInfo]:
        asked.append(names)
        return {name: ObjectInfo(frozenset({"password", "secret-key"}), "d") for name in names}

    kube = RecordingKube()
    outcome = run_reading(kube, read)
    assert asked == [
        ["shop-django", "shop-postgres", "shop-postgres-superuser", "shop-redis", "shop-tls"]
    ]
    # They all exist: none is created (TLS: the certificate's keys are missing, not made).
    assert not [w for w in kube.applied if w.startswith("Secret")]
    assert outcome.secrets_written == []


def test_a_refused_secret_read_stalls_the_stack_before_any_write() -> None:
    def read(names: list[str]) -> dict[str, ObjectInfo]:
        raise ApiError(403, "Forbidden", 'secrets "shop-django" is forbidden')

    kube = RecordingKube()
    outcome = run_reading(kube, read)
    assert kube.applied == []
    (status,) = kube.statuses
    stalled = conditions(status)["Stalled"]
    assert stalled[:2] == ("True", "Forbidden")
    assert "Secrets of DjangoStack shop" in stalled[2] and "forbidden" in stalled[2]
    assert outcome.failed and not outcome.unreachable


def test_an_unanswered_secret_read_is_retried_without_writes() -> None:
    def read(names: list[str]) -> dict[str, ObjectInfo]:
        raise ApiError(0, "Unreachable", "no answer from the API server")

    kube = RecordingKube()
    outcome = run_reading(kube, read)
    assert kube.applied == [] and kube.statuses == []
    assert outcome.unreachable


def test_a_stack_missing_a_referenced_secret_asks_to_look_again_soon() -> None:
    outcome = run_reading(RecordingKube(), lambda _: {}, secretKeyRef={"name": "own", "key": "k"})
    assert outcome.waits_for_secret
    assert not run_reading(RecordingKube(), lambda _: {}).waits_for_secret
