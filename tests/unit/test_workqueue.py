"""The work queue: deduplication, one worker per key, per-key backoff (a fake clock)."""

from __future__ import annotations

import threading

from djangostack_operator.workqueue import Backoff, WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def queue(clock: Clock | None = None, **backoff: float) -> WorkQueue[str]:
    return WorkQueue("test", Backoff(jitter=0, **backoff), clock or Clock())


def drain(q: WorkQueue[str]) -> list[str]:
    got = []
    while (key := q.get(timeout=0)) is not None:
        got.append(key)
        q.done(key)
    return got


def test_a_key_added_many_times_is_handed_out_once() -> None:
    q = queue()
    for key in ["a", "b", "a", "a", "b", "c"]:
        q.add(key)
    assert drain(q) == ["a", "b", "c"]


def test_a_key_being_processed_is_not_handed_to_a_second_worker() -> None:
    q = queue()
    q.add("a")
    assert q.get(timeout=0) == "a"
    q.add("a")  # an event while "a" is processed
    assert q.get(timeout=0) is None  # no second worker gets it meanwhile
    q.done("a")
    assert q.get(timeout=0) == "a"  # but it runs once more afterwards
    q.done("a")
    assert q.get(timeout=0) is None


def test_failures_back_off_exponentially_up_to_the_cap_and_success_resets() -> None:
    q = queue(base=1, factor=2, cap=5)
    delays = []
    for _ in range(5):
        delays.append(q.add_rate_limited("a"))
    assert delays == [1, 2, 4, 5, 5]
    q.forget("a")
    assert q.add_rate_limited("a") == 1


def test_jitter_stays_within_its_share() -> None:
    backoff = Backoff(base=10, jitter=0.2)
    assert backoff.delay(1, rand=lambda: 0.0) == 10
    assert backoff.delay(1, rand=lambda: 1.0) == 12


def test_a_failed_key_waits_its_backoff_even_when_events_arrive() -> None:
    clock = Clock()
    q = queue(clock, base=4)
    q.add("a")
    assert q.get(timeout=0) == "a"
    q.add("a")  # the echo of the failing attempt's own write
    q.add_rate_limited("a")
    q.done("a")
    assert q.get(timeout=0) is None
    q.add("a")  # a child event during the backoff
    assert q.get(timeout=0) is None
    clock.now += 4
    assert drain(q) == ["a"]


def test_an_urgent_add_ends_the_backoff() -> None:
    clock = Clock()
    q = queue(clock, base=30)
    q.add("a")
    q.get(timeout=0)
    q.add_rate_limited("a")
    q.done("a")
    q.add("a", urgent=True)  # the spec changed
    assert drain(q) == ["a"]


def test_add_after_keeps_the_earliest_due_time() -> None:
    clock = Clock()
    q = queue(clock)
    q.add_after("a", 10)
    q.add_after("a", 3)
    q.add_after("a", 20)
    clock.now += 3
    assert drain(q) == ["a"]
    clock.now += 20
    assert drain(q) == []


def test_workers_in_threads_never_process_one_key_at_once() -> None:
    q: WorkQueue[int] = WorkQueue("threads")
    busy: set[int] = set()
    overlaps = []
    lock = threading.Lock()
    processed = []

    def work() -> None:
        while (key := q.get(timeout=0.5)) is not None:
            with lock:
                if key in busy:
                    overlaps.append(key)
                busy.add(key)
            for _ in range(1000):
                pass
            with lock:
                busy.discard(key)
                processed.append(key)
            q.done(key)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for round_ in range(200):
        q.add(round_ % 5)
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert set(processed) == {0, 1, 2, 3, 4}


def test_shutdown_wakes_every_waiting_worker() -> None:
    q: WorkQueue[str] = WorkQueue("stop")
    results = []
    threads = [threading.Thread(target=lambda: results.append(q.get())) for _ in range(3)]
    for thread in threads:
        thread.start()
    q.shutdown()
    for thread in threads:
        thread.join(timeout=5)
    assert results == [None, None, None]
