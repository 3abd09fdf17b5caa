"""Leader election with a coordination.k8s.io Lease, as client-go's leaderelection does it.

Every replica watches and keeps its caches warm; only the holder of the Lease reconciles.
The holder renews the Lease every RETRY seconds; when it cannot renew for RENEW_DEADLINE it
stops reconciling at once (before the Lease can expire and another replica takes over), and
a replica that sees the Lease unrenewed for LEASE_DURATION takes it. Writes go through
optimistic concurrency (the Lease's resourceVersion), so two replicas can never both win.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from djangostack_operator import metrics
from djangostack_operator.kube import ApiError, Kube

log = logging.getLogger("djangostack_operator")


@dataclass(frozen=True)
class LeaseSettings:
    namespace: str
    name: str
    identity: str
    duration: float = 15.0
    renew_deadline: float = 10.0
    retry: float = 2.0


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class LeaderElector:
    def __init__(
        self,
        kube: Kube,
        settings: LeaseSettings,
        on_started_leading: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.on_started_leading = on_started_leading
        self.clock = clock
        self._leading = threading.Event()
        self._stop = threading.Event()
        self._last_renewed = 0.0
        # What we last saw of another holder: (its renewTime as read, when we first saw it).
        self._observed: tuple[Any, float] | None = None
        self._thread: threading.Thread | None = None

    def is_leader(self) -> bool:
        """True while the Lease is ours and was renewed within the renew deadline."""
        if not self._leading.is_set():
            return False
        if self.clock() - self._last_renewed > self.settings.renew_deadline:
            self._lose("the Lease was not renewed in time")
            return False
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._leading.is_set():
            self._release()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._try_acquire_or_renew()
            except ApiError as failure:
                log.warning("Leader election: %s", failure)
            except Exception:  # keep electing whatever happens; a crash here would be silent
                log.exception("Leader election failed")
            self.is_leader()  # steps down when the renew deadline passed
            self._stop.wait(self.settings.retry)

    def _try_acquire_or_renew(self) -> None:
        s = self.settings
        lease = self.kube.read_lease(s.namespace, s.name)
        now = _now()
        if lease is None:
            body = client.V1Lease(
                metadata=client.V1ObjectMeta(name=s.name, namespace=s.namespace),
                spec=self._spec(now, transitions=0, acquired=now),
            )
            self.kube.write_lease(s.namespace, body, create=True)
            self._won()
            return
        spec = lease.spec or client.V1LeaseSpec()
        holder = spec.holder_identity
        if holder == s.identity:
            lease.spec = self._spec(now, spec.lease_transitions or 0, spec.acquire_time or now)
            self.kube.write_lease(s.namespace, lease, create=False)
            self._won()
            return
        if holder and not self._expired(spec):
            if self._leading.is_set():
                self._lose(f"the Lease is held by {holder}")
            return
        lease.spec = self._spec(now, (spec.lease_transitions or 0) + 1, now)
        self.kube.write_lease(s.namespace, lease, create=False)
        log.info("Leader election: took over the Lease from %s", holder or "nobody")
        self._won()

    def _expired(self, spec: Any) -> bool:
        """Another holder's Lease is expired when its renewTime has not changed for a whole
        lease duration of our own clock (clocks of two machines are never compared)."""
        seen = spec.renew_time
        if self._observed is None or self._observed[0] != seen:
            self._observed = (seen, self.clock())
            return seen is None
        duration = spec.lease_duration_seconds or self.settings.duration
        return self.clock() - self._observed[1] > duration

    def _spec(
        self, now: datetime.datetime, transitions: int, acquired: datetime.datetime
    ) -> client.V1LeaseSpec:
        return client.V1LeaseSpec(
            holder_identity=self.settings.identity,
            lease_duration_seconds=int(self.settings.duration),
            acquire_time=acquired,
            renew_time=now,
            lease_transitions=transitions,
        )

    def _won(self) -> None:
        self._last_renewed = self.clock()
        if not self._leading.is_set():
            self._leading.set()
            metrics.LEADER.labels(name=self.settings.name).set(1)
            log.info("Leader election: %s leads (Lease %s/%s)", self.settings.identity,
                     self.settings.namespace, self.settings.name)  # fmt: skip
            self.on_started_leading()

    def _lose(self, why: str) -> None:
        if self._leading.is_set():
            self._leading.clear()
            metrics.LEADER.labels(name=self.settings.name).set(0)
            log.warning("Leader election: stopped leading: %s", why)

    def _release(self) -> None:
        """On a clean stop, give the Lease up so the next replica need not wait it out."""
        s = self.settings
        try:
            lease = self.kube.read_lease(s.namespace, s.name)
            if lease is not None and lease.spec and lease.spec.holder_identity == s.identity:
                lease.spec.holder_identity = None
                lease.spec.renew_time = None
                self.kube.write_lease(s.namespace, lease, create=False)
        except ApiError as failure:
            log.warning("Leader election: could not release the Lease: %s", failure)
        self._lose("stopping")


class AlwaysLeader:
    """Without leader election (one replica, or a developer's run) this process leads."""

    def is_leader(self) -> bool:
        return True

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
