"""One keyed work queue for every trigger, in the shape of controller-runtime's workqueue.

Triggers (a stack's own events, a child's, a referenced Secret's or ConfigMap's, the resync
tick) only `add` a key. The queue guarantees:

- a key already waiting is not queued twice (bursts of events collapse into one reconcile);
- a key being processed is never handed to a second worker; adding it meanwhile marks it
  dirty, and it is queued once more when the first worker is `done`;
- a failed key waits `backoff(failures)` before it runs again (exponential, jittered,
  capped); events for it do not cut that wait short unless they are `urgent` (a new spec),
  and `forget` after a success resets the count.

It is thread-safe: kopf's handlers add from the event loop, worker threads get and finish.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from djangostack_operator import metrics

Key = TypeVar("Key", bound=Hashable)


@dataclass(frozen=True)
class Backoff:
    """Per-key retry delays: base * factor**(failures-1), capped, plus up to `jitter` of it."""

    base: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.2

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        if failures <= 0:
            return 0.0
        plain = min(self.cap, self.base * self.factor ** min(failures - 1, 64))
        return plain * (1 + self.jitter * rand())


class WorkQueue(Generic[Key]):
    def __init__(
        self,
        name: str,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.backoff = backoff or Backoff()
        self.clock = clock
        self._cond = threading.Condition()
        self._ready: list[Key] = []  # FIFO of keys to hand out now
        self._queued_at: dict[Key, float] = {}  # dirty: waiting in _ready or for a worker
        self._processing: dict[Key, float] = {}  # key -> when a worker took it
        self._waiting: list[tuple[float, int, Key]] = []  # heap of (due, seq, key)
        self._due: dict[Key, float] = {}  # the earliest due time of each waiting key
        self._failures: dict[Key, int] = {}
        self._backing_off: set[Key] = set()  # waiting because of a failure
        self._urgent: set[Key] = set()  # dirty through an urgent add while processing
        self._seq = 0
        self._shutdown = False

    # -- adding -------------------------------------------------------------------------

    def add(self, key: Key, urgent: bool = False) -> None:
        """Queue `key` now. While it is backing off after a failure, only an urgent add
        (the stack's spec changed) ends the wait early."""
        with self._cond:
            if self._shutdown:
                return
            if key in self._backing_off and not urgent:
                return
            if urgent and key in self._processing:
                self._urgent.add(key)
            self._add_locked(key)

    def _add_locked(self, key: Key) -> None:
        self._backing_off.discard(key)
        self._due.pop(key, None)  # a later due entry in the heap is then ignored
        metrics.WORKQUEUE_ADDS.labels(name=self.name).inc()
        if key in self._queued_at:
            return
        self._queued_at[key] = self.clock()
        if key not in self._processing:
            self._ready.append(key)
            self._publish_depth()
            self._cond.notify()

    def add_after(self, key: Key, delay: float) -> None:
        """Queue `key` after `delay` seconds (keeping an earlier pending due time)."""
        with self._cond:
            self._add_after_locked(key, delay)

    def _add_after_locked(self, key: Key, delay: float) -> None:
        if self._shutdown:
            return
        if delay <= 0:
            self._add_locked(key)
            return
        due = self.clock() + delay
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        self._seq += 1
        heapq.heappush(self._waiting, (due, self._seq, key))
        self._cond.notify_all()

    def add_rate_limited(self, key: Key) -> float:
        """Count a failure of `key` and queue it after its backoff; returns the delay."""
        with self._cond:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            delay = self.backoff.delay(failures)
            metrics.WORKQUEUE_RETRIES.labels(name=self.name).inc()
            self._due.pop(key, None)
            if key in self._processing and key not in self._urgent:
                # Events that came in while the failing attempt ran (often the echoes of its
                # own writes) wait with it: the retry looks at them.
                self._queued_at.pop(key, None)
            self._add_after_locked(key, delay)
            self._backing_off.add(key)
            return delay

    def forget(self, key: Key) -> None:
        """The key succeeded: its next failure starts the backoff from the beginning."""
        with self._cond:
            self._failures.pop(key, None)
            self._backing_off.discard(key)

    def failures(self, key: Key) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    # -- draining -----------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> Key | None:
        """The next key to process (None on shutdown or after `timeout` seconds)."""
        deadline = None if timeout is None else self.clock() + timeout
        with self._cond:
            while True:
                self._promote_due_locked()
                if self._shutdown:
                    return None
                if self._ready:
                    key = self._ready.pop(0)
                    queued = self._queued_at.pop(key)
                    now = self.clock()
                    self._processing[key] = now
                    metrics.WORKQUEUE_QUEUE_SECONDS.labels(name=self.name).observe(now - queued)
                    self._publish_depth()
                    return key
                wait = None if deadline is None else deadline - self.clock()
                if wait is not None and wait <= 0:
                    return None
                if self._waiting:
                    until_due = max(0.0, self._waiting[0][0] - self.clock())
                    wait = until_due if wait is None else min(wait, until_due)
                self._cond.wait(wait)

    def _promote_due_locked(self) -> None:
        now = self.clock()
        while self._waiting and self._waiting[0][0] <= now:
            due, _, key = heapq.heappop(self._waiting)
            if self._due.get(key) != due:
                continue  # superseded by an earlier add
            del self._due[key]
            self._backing_off.discard(key)
            self._add_locked(key)

    def done(self, key: Key) -> None:
        """A worker finished `key`; if it was added meanwhile, it is queued again."""
        with self._cond:
            started = self._processing.pop(key, None)
            self._urgent.discard(key)
            if started is not None:
                metrics.WORKQUEUE_WORK_SECONDS.labels(name=self.name).observe(
                    self.clock() - started
                )
            if key in self._queued_at and key not in self._ready:
                self._ready.append(key)
                self._publish_depth()
                self._cond.notify()

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    # -- looking ------------------------------------------------------------------------

    def depth(self) -> int:
        with self._cond:
            return len(self._ready)

    def longest_running(self) -> float:
        """Seconds the longest-running key has been processed (0 when none is)."""
        with self._cond:
            if not self._processing:
                return 0.0
            return self.clock() - min(self._processing.values())

    def oldest_ready(self) -> float:
        """Seconds the oldest key has waited for a worker (0 when none waits)."""
        with self._cond:
            waiting = [self._queued_at[key] for key in self._ready]
            return self.clock() - min(waiting) if waiting else 0.0

    def _publish_depth(self) -> None:
        metrics.WORKQUEUE_DEPTH.labels(name=self.name).set(len(self._ready))
