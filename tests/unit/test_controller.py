"""The runtime's own decisions: health, triggers, failure handling (no API server)."""

from __future__ import annotations

from typing import Any

import pytest

from djangostack_operator.cache import Cache
from djangostack_operator.controller import Options, Runtime, SyncGate
from djangostack_operator.kube import ApiError
from djangostack_operator.workqueue import Backoff
from tests.factories import stack_object


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def runtime(clock: Clock, **options: Any) -> Runtime:
    return Runtime(Options(workers=0, backoff=Backoff(jitter=0), **options), None, clock)  # type: ignore[arg-type]


def test_health_fails_when_one_reconcile_runs_too_long() -> None:
    clock = Clock()
    rt = runtime(clock, stuck_seconds=120)
    rt.queue.add(("ns", "shop"))
    assert rt.queue.get(timeout=0) == ("ns", "shop")
    clock.now += 100
    assert rt.health()["longestRunningSeconds"] == 100
    clock.now += 30
    with pytest.raises(RuntimeError, match="a reconcile has run for 130"):
        rt.health()


def test_health_fails_when_a_stack_waits_too_long_for_a_worker() -> None:
    clock = Clock()
    rt = runtime(clock, stuck_seconds=120)
    rt.queue.add(("ns", "shop"))
    clock.now += 121
    with pytest.raises(RuntimeError, match="waited 121"):
        rt.health()


def test_health_fails_when_workers_died() -> None:
    rt = Runtime(Options(workers=2), None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="only 0 of 2 workers"):
        rt.health()


def test_a_status_echo_does_not_end_a_backoff_but_a_new_spec_does() -> None:
    clock = Clock()
    rt = runtime(clock)
    body = stack_object(namespace="ns")
    body["metadata"]["generation"] = 1
    rt.stack_changed(body, None)
    key = rt.queue.get(timeout=0)
    assert key == ("ns", "shop")
    rt.queue.add_rate_limited(key)
    rt.queue.done(key)
    # Our own status write comes back as an event: same generation, no new attempt.
    rt.stack_changed({**body, "status": {"phase": "Stalled"}}, "MODIFIED")
    assert rt.queue.get(timeout=0) is None
    # The user changes the spec: at once.
    rt.stack_changed({**body, "metadata": {**body["metadata"], "generation": 2}}, "MODIFIED")
    assert rt.queue.get(timeout=0) == ("ns", "shop")


def test_a_child_event_queues_its_stack_only_when_the_stack_is_known() -> None:
    rt = runtime(Clock())
    child = {"kind": "Service", "metadata": {"name": "shop-web", "namespace": "ns",
             "labels": {"app.kubernetes.io/instance": "shop"}}}  # fmt: skip
    rt.child_changed("Service", child, None)
    assert rt.queue.get(timeout=0) is None
    rt.stack_changed(stack_object(namespace="ns"), None)
    rt.queue.done(rt.queue.get(timeout=0))  # type: ignore[arg-type]
    rt.child_changed("Service", child, "MODIFIED")
    assert rt.queue.get(timeout=0) == ("ns", "shop")


@pytest.mark.parametrize(
    ("patterns", "namespace", "watched"),
    [
        ((), "anything", True),
        (("shop",), "shop", True),
        (("shop",), "shop-2", False),
        (("op-*",), "op-test-1", True),
        (("op-*",), "solo-test-1", False),
        (("team-*,!team-x",), "team-a", True),
        (("team-*,!team-x",), "team-x", False),
        (("!kube-*",), "default", True),
        (("!kube-*",), "kube-system", False),
        (("a", "b-*"), "b-1", True),
    ],
)
def test_namespace_patterns_are_matched_by_the_operator(
    patterns: tuple[str, ...], namespace: str, watched: bool
) -> None:
    options = Options(namespaces=patterns, all_namespaces=not patterns)
    assert options.watches(namespace) is watched
    # Patterns are watched cluster-wide and filtered; plain names are watched one by one.
    assert options.watch_cluster_wide is (not patterns or any("*" in p for p in patterns))


def test_events_of_namespaces_outside_the_patterns_are_ignored() -> None:
    rt = Runtime(Options(namespaces=("op-*",), workers=0), None)  # type: ignore[arg-type]
    rt.stack_changed(stack_object(namespace="solo-1"), None)
    assert rt.queue.get(timeout=0) is None and rt.cache.stack_keys() == []
    rt.stack_changed(stack_object(namespace="op-1"), None)
    assert rt.queue.get(timeout=0) == ("op-1", "shop")


def test_an_older_spec_of_a_stack_is_never_acted_on() -> None:
    rt = runtime(Clock())
    body = stack_object(namespace="ns")
    newer = {**body, "metadata": {**body["metadata"], "generation": 3}, "spec": {"image": "b:2"}}
    older = {**body, "metadata": {**body["metadata"], "generation": 2}, "spec": {"image": "a:1"}}
    rt.stack_changed(newer, None)
    rt.queue.done(rt.queue.get(timeout=0))  # type: ignore[arg-type]
    # A restarted watch delivers the older body: it neither replaces the newer nor queues.
    rt.stack_changed(older, "MODIFIED")
    assert rt.queue.get(timeout=0) is None
    assert rt.cache.stack(("ns", "shop")) == newer
    # A new object of the same name (another uid) starts again at generation 1.
    again = {**older, "metadata": {**older["metadata"], "uid": "other", "generation": 1}}
    rt.stack_changed(again, "ADDED")
    assert rt.cache.stack(("ns", "shop")) == again


class ListingKube:
    """Lists nothing; PodMonitors answer 404, as they do once their CRD is deleted."""

    def __init__(self) -> None:
        self.listed: list[str] = []

    def list_names(self, api_version: str, kind: str, *_: Any) -> list[tuple[str, str, str]]:
        self.listed.append(kind)
        if kind == "PodMonitor":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return []


def test_the_startup_listing_skips_optional_kinds_not_served_or_gone() -> None:
    kube = ListingKube()
    gate = SyncGate(kube, Cache("test"), cluster_wide=False, clock=lambda: 0.0)  # type: ignore[arg-type]
    # Served at the start, its CRD deleted since: a 404 means there is nothing of it.
    assert gate.ready("shop") is True
    assert "PodMonitor" in kube.listed
    # Not served at the start: not even asked for.
    kube.listed.clear()
    gate = SyncGate(kube, Cache("test"), cluster_wide=False, clock=lambda: 0.0)  # type: ignore[arg-type]
    gate.unserved = frozenset({"PodMonitor"})
    assert gate.ready("shop") is True
    assert "PodMonitor" not in kube.listed and "Deployment" in kube.listed
