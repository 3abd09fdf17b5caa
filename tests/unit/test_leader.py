"""Leader election decisions, with an in-memory Lease and a fake clock."""

from __future__ import annotations

import copy
from typing import Any

from kubernetes import client

from djangostack_operator.kube import ApiError
from djangostack_operator.leader import LeaderElector, LeaseSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class LeaseStore:
    """One Lease with optimistic concurrency, as the API server keeps it."""

    def __init__(self) -> None:
        self.lease: Any = None
        self.version = 0
        self.down = False

    def read_lease(self, namespace: str, name: str) -> Any:
        if self.down:
            raise ApiError(0, "Unreachable", "no answer")
        return copy.deepcopy(self.lease)

    def write_lease(self, namespace: str, lease: Any, create: bool) -> Any:
        if self.down:
            raise ApiError(0, "Unreachable", "no answer")
        if create and self.lease is not None:
            raise ApiError(409, "AlreadyExists", "exists")
        if not create and lease.metadata.resource_version != str(self.version):
            raise ApiError(409, "Conflict", "modified")
        self.version += 1
        lease.metadata.resource_version = str(self.version)
        self.lease = copy.deepcopy(lease)
        return lease


def elector(store: LeaseStore, clock: Clock, identity: str, started: list[str]) -> LeaderElector:
    settings = LeaseSettings("ns", "lease", identity)
    return LeaderElector(store, settings, lambda: started.append(identity), clock)  # type: ignore[arg-type]


def test_the_first_replica_takes_the_lease_and_the_second_waits() -> None:
    store, clock, started = LeaseStore(), Clock(), []
    first, second = elector(store, clock, "a", started), elector(store, clock, "b", started)
    first._try_acquire_or_renew()
    second._try_acquire_or_renew()
    assert (first.is_leader(), second.is_leader()) == (True, False)
    assert started == ["a"]
    assert isinstance(store.lease, client.V1Lease) and store.lease.spec.holder_identity == "a"


def test_a_standby_takes_over_only_after_the_lease_went_unrenewed_for_its_duration() -> None:
    store, clock, started = LeaseStore(), Clock(), []
    first, second = elector(store, clock, "a", started), elector(store, clock, "b", started)
    first._try_acquire_or_renew()
    second._try_acquire_or_renew()  # sees a's renewTime for the first time
    clock.now += 10
    first._try_acquire_or_renew()  # a renews: the standby's count starts again
    second._try_acquire_or_renew()
    clock.now += 14
    second._try_acquire_or_renew()
    assert not second.is_leader()
    clock.now += 2  # a died: its renewTime has not moved for over 15 s
    second._try_acquire_or_renew()
    assert second.is_leader()
    assert store.lease.spec.holder_identity == "b" and store.lease.spec.lease_transitions == 1
    assert started == ["a", "b"]


def test_a_leader_that_cannot_renew_steps_down_before_the_lease_expires() -> None:
    store, clock, started = LeaseStore(), Clock(), []
    leader = elector(store, clock, "a", started)
    leader._try_acquire_or_renew()
    store.down = True
    clock.now += 9
    assert leader.is_leader()
    clock.now += 2  # past the 10 s renew deadline, before the 15 s lease runs out
    assert not leader.is_leader()


def test_a_clean_stop_gives_the_lease_up_at_once() -> None:
    store, clock, started = LeaseStore(), Clock(), []
    first, second = elector(store, clock, "a", started), elector(store, clock, "b", started)
    first._try_acquire_or_renew()
    first.stop()
    second._try_acquire_or_renew()
    assert second.is_leader()
