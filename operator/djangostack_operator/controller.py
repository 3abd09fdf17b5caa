"""The operator's runtime: one object made at start-up and kept in kopf's memo.

It holds the client, the caches the watches fill, the one work queue and the pool of
worker threads that drain it, the resync tick, leader election and the health check.
kopf's handlers (handlers.py) only update the caches and add keys; everything that writes
happens here, one key at a time, with one retry policy.
"""

from __future__ import annotations

import datetime
import fnmatch
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from djangostack_operator import metrics
from djangostack_operator.cache import Cache, ObjectKey, StackKey, config_info
from djangostack_operator.decide import Event
from djangostack_operator.kinds import CHILD_KINDS, CONFIG_KINDS, OPTIONAL
from djangostack_operator.kube import ApiError, Kube
from djangostack_operator.leader import AlwaysLeader, LeaderElector, LeaseSettings
from djangostack_operator.policy import Policy
from djangostack_operator.reconcile import Outcome, RecentWrites, reconcile
from djangostack_operator.references import ObjectInfo
from djangostack_operator.secretlookup import SecretLookup
from djangostack_operator.spec import API_VERSION, KIND
from djangostack_operator.status_types import DjangoStackStatus
from djangostack_operator.vocabulary import FIELD_MANAGER, MANAGED_SELECTOR, TIME_FORMAT
from djangostack_operator.workqueue import Backoff, WorkQueue

log = logging.getLogger("djangostack_operator")
CONTROLLER = metrics.CONTROLLER
# A failure that is only the API server not answering is retried at least this often, so
# the operator converges soon after the API server is back.
UNREACHABLE_RETRY_CAP = 5.0
# A Warning Event for the same failure of one stack is posted at most this often.
FAILURE_EVENT_SECONDS = 600.0
# A start-up listing the watches have not caught up with in this long is made again (an
# object it saw may have been deleted before the watch ever showed it).
RELIST_SECONDS = 10.0
NOT_SYNCED_RETRY = 0.5
# A stack stalled on a Secret that does not exist (yet) reads it again this often: no watch
# tells the operator that it appeared.
MISSING_SECRET_RECHECK = 5.0
# Secrets read this long ago are read again; below the resync period, so that each resync
# reads every Secret again.
SECRET_FRESH_SHARE = 0.5


@dataclass(frozen=True)
class Options:
    """How the operator runs (from `djangostack run`)."""

    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = True
    resync_seconds: float = 30.0
    workers: int = 4
    leader_election: bool = False
    lease_name: str = "djangostack-operator"
    lease_namespace: str = ""
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    # /healthz fails when one reconcile runs, or a key waits for a worker, longer than this.
    stuck_seconds: float = 120.0
    backoff: Backoff = field(default_factory=Backoff)
    policy: Policy = field(default_factory=Policy)

    @property
    def namespace_globs(self) -> bool:
        """Namespaces given as patterns (`team-*`, `!kube-*`, `a,b`) rather than names."""
        return any(mark in name for name in self.namespaces for mark in "*?[!,")

    @property
    def watch_cluster_wide(self) -> bool:
        """Patterns are watched cluster-wide and filtered here, never through kopf's
        namespace scanning: that watch of Namespaces now and then missed a namespace created
        right after the operator started (a stack there got no status for 90 s, until the
        namespace was deleted) - the "new namespace never watched" failure."""
        return self.all_namespaces or not self.namespaces or self.namespace_globs

    def watches(self, namespace: str) -> bool:
        """The namespace is one this operator manages."""
        if not self.namespaces:
            return True
        patterns = [p.strip() for name in self.namespaces for p in name.split(",") if p.strip()]
        included = [p for p in patterns if not p.startswith("!")]
        excluded = [p[1:] for p in patterns if p.startswith("!")]
        if any(fnmatch.fnmatchcase(namespace, p) for p in excluded):
            return False
        return not included or any(fnmatch.fnmatchcase(namespace, p) for p in included)


def lease_namespace(options: Options) -> str:
    """The configured namespace, else the pod's own (service account), else default."""
    if options.lease_namespace:
        return options.lease_namespace
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as file:
            return file.read().strip()
    except OSError:
        return "default"


class SyncGate:
    """Reconciles of a namespace wait until the caches hold everything that existed there.

    Watches deliver the objects of their first listing one by one, and a reconcile that ran
    on a half-filled cache would misjudge the stack (a missing Job is not a Job to create
    again). So before the first reconcile of a namespace (or of all, when cluster-wide), the
    operator lists the names of every kind it watches, and waits until the cache knows each
    of them (or saw it deleted since).
    """

    def __init__(
        self, kube: Kube, cache: Cache, cluster_wide: bool, clock: Callable[[], float]
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.cluster_wide = cluster_wide
        self.clock = clock
        # Optional kinds the cluster does not serve (Runtime.start): nothing of them to list.
        self.unserved: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._synced: set[str] = set()
        self._expected: dict[str, tuple[set[ObjectKey], float]] = {}

    def ready(self, namespace: str) -> bool:
        scope = "" if self.cluster_wide else namespace
        with self._lock:
            if scope in self._synced:
                return True
            expected = self._expected.get(scope)
        if expected is None or self.clock() - expected[1] > RELIST_SECONDS:
            expected = (self._list(scope), self.clock())
        keys, listed_at = expected
        missing = {key for key in keys if not self.cache.knows(key, listed_at)}
        with self._lock:
            if missing:
                self._expected[scope] = (missing, listed_at)
                return False
            self._synced.add(scope)
            self._expected.pop(scope, None)
        return True

    def _list(self, scope: str) -> set[ObjectKey]:
        namespace = scope or None
        keys: set[ObjectKey] = set()
        for child in CHILD_KINDS:
            if child.kind in self.unserved:
                continue
            try:
                listed = self.kube.list_names(
                    child.api_version, child.kind, namespace, MANAGED_SELECTOR
                )
            except ApiError as error:
                # An optional kind whose CRD went away since the start: nothing of it exists.
                if child.optional and error.status == HTTPStatus.NOT_FOUND:
                    continue
                raise
            keys.update((child.kind, ns, name) for ns, name, _ in listed)
        for config in CONFIG_KINDS:
            for ns, name, _ in self.kube.list_names(
                config.api_version, config.kind, namespace, None
            ):
                keys.add((f"config/{config.kind}", ns, name))
        for ns, name, _ in self.kube.list_names(API_VERSION, KIND, namespace, None):
            keys.add(("DjangoStack", ns, name))
        return keys


class WatchAudit:
    """Proves the stack watch is not deaf: each resync, the stacks' resourceVersions as the
    API server lists them are compared with the cache. A stack the cache shows at another
    version in two audits in a row (one resync period apart, far longer than a watch event
    takes) means its watch delivers nothing; /healthz then fails and the pod is restarted."""

    def __init__(self, kube: Kube, cache: Cache, options: Options) -> None:
        self.kube = kube
        self.cache = cache
        self.options = options
        self._suspects: dict[StackKey, str] = {}
        self.deaf: list[StackKey] = []

    def audit(self) -> None:
        scopes: list[str | None] = (
            [None] if self.options.watch_cluster_wide else [*self.options.namespaces]
        )
        listed: dict[StackKey, str] = {}
        for scope in scopes:
            for ns, name, version in self.kube.list_names(API_VERSION, KIND, scope, None):
                if self.options.watches(ns):
                    listed[(ns, name)] = version
        behind = {
            key: version
            for key, version in listed.items()
            if (self.cache.stack(key) or {}).get("metadata", {}).get("resourceVersion") != version
        }
        self.deaf = [key for key, version in behind.items() if self._suspects.get(key) == version]
        self._suspects = behind
        if self.deaf:
            log.error("The DjangoStack watch is behind for %s", ", ".join(
                f"{ns}/{name}" for ns, name in self.deaf))  # fmt: skip


class Runtime:
    def __init__(self, options: Options, kube: Kube, clock: Callable[[], float] = time.monotonic):
        self.options = options
        self.kube = kube
        self.clock = clock
        self.cache = Cache(FIELD_MANAGER, clock)
        self.secrets = SecretLookup(
            # Bound late: a runtime made without a client (unit tests) never reads one.
            lambda namespace, name: self.kube.read_secret(namespace, name),  # noqa: PLW0108
            lambda body: config_info("Secret", body),
            options.resync_seconds * SECRET_FRESH_SHARE,
            clock,
        )
        self.queue: WorkQueue[StackKey] = WorkQueue(CONTROLLER, options.backoff, clock)
        self.recent = RecentWrites(clock)
        self.gate = SyncGate(kube, self.cache, not options.namespaces, clock)
        self.watch_audit = WatchAudit(kube, self.cache, options)
        self.stack_metrics = metrics.StackMetrics()
        self._written: dict[str, DjangoStackStatus] = {}  # status last written, by stack uid
        self._failure_events: dict[StackKey, tuple[str, float]] = {}
        self._state_lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.leader: LeaderElector | AlwaysLeader
        if options.leader_election:
            lease = LeaseSettings(lease_namespace(options), options.lease_name, options.identity)
            self.leader = LeaderElector(kube, lease, self.resync_all, clock)
        else:
            self.leader = AlwaysLeader()

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        # Optional kinds are looked up once: kopf's watches are set up once as well, so a
        # CRD installed later is used after a restart (the stacks' status says so).
        self.gate.unserved = self.kube.unserved((kind.api_version, kind.kind) for kind in OPTIONAL)
        if self.gate.unserved:
            log.info(
                "Not served by this cluster, left out: %s", ", ".join(sorted(self.gate.unserved))
            )
        metrics.MAX_WORKERS.labels(controller=CONTROLLER).set(self.options.workers)
        metrics.WORKQUEUE_LONGEST_RUNNING.labels(name=CONTROLLER).set_function(
            self.queue.longest_running
        )
        for index in range(self.options.workers):
            self._spawn(self._work, f"worker-{index}")
        self._spawn(self._resync_loop, "resync")
        self.leader.start()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        self.queue.shutdown()
        self.leader.stop()
        for thread in self._threads:
            thread.join(timeout=10)

    # -- triggers (called by kopf's handlers, on the event loop) ------------------------

    def stack_changed(self, body: dict[str, Any], event_type: str | None) -> None:
        metadata = body["metadata"]
        key = (metadata["namespace"], metadata["name"])
        if not self.options.watches(key[0]):
            return
        if event_type == "DELETED":
            self.cache.drop_stack(*key)
            self.secrets.drop_stack(key)
            self.stack_metrics.record(*key, None)
            with self._state_lock:
                self._written.pop(str(metadata.get("uid")), None)
                self._failure_events.pop(key, None)
            return
        previous = self.cache.stack(key)
        if not self.cache.put_stack(body):
            log.info("Ignored an older spec of DjangoStack %s/%s (generation %s)",
                     *key, metadata.get("generation"))  # fmt: skip
            return
        # A new spec ends a failure's backoff at once; a status or metadata change does not.
        new_spec = (
            previous is None
            or previous["metadata"].get("generation") != metadata.get("generation")
            or previous["metadata"].get("annotations") != metadata.get("annotations")
        )
        self.queue.add(key, urgent=new_spec)

    def child_changed(self, kind: str, body: dict[str, Any], event_type: str | None) -> None:
        metadata = body["metadata"]
        if not self.options.watches(metadata.get("namespace", "")):
            return
        if event_type == "DELETED":
            key = self.cache.drop_child(kind, metadata.get("namespace", ""), metadata["name"])
        else:
            key = self.cache.put_child(kind, body)
        if key is not None and self.cache.stack(key) is not None:
            self.queue.add(key)

    def config_changed(self, kind: str, body: dict[str, Any], event_type: str | None) -> None:
        """A ConfigMap changed: every stack of its namespace looks again (a missing one that
        appears unblocks them; changed config rolls their pods). The reconcile
        decides whether the stack uses it; a look that finds nothing to do writes nothing."""
        metadata = body["metadata"]
        namespace, name = metadata.get("namespace", ""), metadata["name"]
        if not self.options.watches(namespace):
            return
        if event_type == "DELETED":
            self.cache.drop_config(kind, namespace, name)
        else:
            self.cache.put_config(kind, namespace, name, config_info(kind, body))
        for key in self.cache.stack_keys_in(namespace):
            self.queue.add(key)

    def resync_all(self) -> None:
        for key in self.cache.stack_keys():
            self.queue.add(key)

    def _resync_loop(self) -> None:
        """Every resync period, every stack is looked at again: drift a missed event hid,
        a Secret that was missing, status. With nothing to change it writes nothing."""
        while not self._stopping.wait(self.options.resync_seconds):
            self.cache.prune_tombstones()
            try:
                self.watch_audit.audit()
            except ApiError as failure:
                log.warning("Auditing the DjangoStack watch failed: %s", failure)
            self.resync_all()

    # -- workers ------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            key = self.queue.get()
            if key is None:
                return
            metrics.ACTIVE_WORKERS.labels(controller=CONTROLLER).inc()
            try:
                self.process(key)
            except Exception:  # a worker never dies; the key retries after its backoff
                log.exception("Reconcile of DjangoStack %s/%s raised", *key)
                self.queue.add_rate_limited(key)
            finally:
                metrics.ACTIVE_WORKERS.labels(controller=CONTROLLER).dec()
                self.queue.done(key)

    def process(self, key: StackKey) -> None:
        if not self.leader.is_leader():
            return  # the leader reconciles; resync_all runs when this replica takes over
        if self.cache.stack(key) is None:
            self.queue.forget(key)
            return
        try:
            synced = self.gate.ready(key[0])
        except ApiError as failure:
            log.warning("Listing %s before its first reconcile failed: %s", key[0], failure)
            self.queue.add_after(key, UNREACHABLE_RETRY_CAP)
            return
        if not synced:
            self.queue.add_after(key, NOT_SYNCED_RETRY)
            return
        started = self.clock()
        outcome = self._reconcile(key)
        metrics.RECONCILE_SECONDS.labels(controller=CONTROLLER).observe(self.clock() - started)
        if outcome is None:
            return
        if outcome.failed:
            metrics.RECONCILES.labels(controller=CONTROLLER, result="error").inc()
            metrics.RECONCILE_ERRORS.labels(controller=CONTROLLER).inc()
            delay = self.queue.add_rate_limited(key)
            if outcome.unreachable and delay > UNREACHABLE_RETRY_CAP:
                self.queue.add_after(key, UNREACHABLE_RETRY_CAP)
            log.warning(
                "Reconcile of DjangoStack %s/%s failed (attempt %d), retrying in %.1f s",
                *key, self.queue.failures(key), min(delay, UNREACHABLE_RETRY_CAP)
                if outcome.unreachable else delay,
            )  # fmt: skip
        else:
            metrics.RECONCILES.labels(controller=CONTROLLER, result="success").inc()
            self.queue.forget(key)
            with self._state_lock:
                self._failure_events.pop(key, None)
        if outcome.writes:
            log.info("Reconciled DjangoStack %s/%s: wrote %s", *key, ", ".join(outcome.writes))

    def _reconcile(self, key: StackKey) -> Outcome | None:
        observed = self.cache.slice(key)
        if observed.body is None:
            return None
        body = observed.body
        uid = str(body["metadata"].get("uid"))
        with self._state_lock:
            last_written = self._written.get(uid)
        now = datetime.datetime.now(datetime.UTC).strftime(TIME_FORMAT)
        generation = body["metadata"].get("generation")

        def read_secrets(names: list[str]) -> Mapping[str, ObjectInfo]:
            return self.secrets.read(key, names, generation)

        outcome = reconcile(
            self.kube,
            observed,
            in_flight=self.recent.snapshot(key[0]),
            last_written=last_written,
            now=now,
            emit=lambda event: self._post_event(key, body, event),
            recent=self.recent,
            read_secrets=read_secrets,
            policy=self.options.policy,
            unserved=self.gate.unserved,
        )
        for name in outcome.secrets_written:
            self.secrets.forget(key[0], name)
        if outcome.waits_for_secret:
            self.queue.add_after(key, MISSING_SECRET_RECHECK)
        if outcome.status is not None:
            with self._state_lock:
                self._written[uid] = outcome.status
        if outcome.sample is not None:
            self.stack_metrics.record(*key, outcome.sample)
        self._report_failures(key, body, outcome)
        return outcome

    def _report_failures(self, key: StackKey, body: dict[str, Any], outcome: Outcome) -> None:
        """One Warning Event per distinct failure of a stack (and again after a while)."""
        messages = [f.describe() for f in outcome.failures]
        if outcome.status_failure is not None:
            messages.append(f"status of DjangoStack {key[1]}: {outcome.status_failure.message}")
        if not messages:
            return
        message = "; ".join(messages)
        reason = outcome.failures[0].reason if outcome.failures else "StatusWriteFailed"
        with self._state_lock:
            last = self._failure_events.get(key)
            if (
                last is not None
                and last[0] == message
                and (self.clock() - last[1] < FAILURE_EVENT_SECONDS)
            ):
                return
            self._failure_events[key] = (message, self.clock())
        self._post_event(key, body, Event("Warning", str(reason), message))

    def _post_event(self, key: StackKey, body: dict[str, Any], event: Event) -> None:
        try:
            self.kube.post_event(
                body, event.type, event.reason, event.message, self.options.identity
            )
        except ApiError as failure:  # an Event is a courtesy: never fail a reconcile on it
            log.warning("Failed to post Event %s for DjangoStack %s/%s: %s",
                        event.reason, *key, failure)  # fmt: skip

    # -- health -------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """What /healthz reports; raises when the workers are stuck (kopf answers 500)."""
        alive = sum(1 for t in self._threads if t.is_alive() and t.name.startswith("worker-"))
        report = {
            "workers": alive,
            "queueDepth": self.queue.depth(),
            "longestRunningSeconds": round(self.queue.longest_running(), 1),
            "oldestWaitingSeconds": round(self.queue.oldest_ready(), 1),
            "leader": self.leader.is_leader(),
        }
        problems = []
        if alive < self.options.workers:
            problems.append(f"only {alive} of {self.options.workers} workers are alive")
        if report["longestRunningSeconds"] > self.options.stuck_seconds:
            problems.append(f"a reconcile has run for {report['longestRunningSeconds']} s")
        if report["oldestWaitingSeconds"] > self.options.stuck_seconds:
            problems.append(f"a stack has waited {report['oldestWaitingSeconds']} s for a worker")
        if self.watch_audit.deaf:
            deaf = ", ".join(f"{ns}/{name}" for ns, name in self.watch_audit.deaf)
            problems.append(f"the DjangoStack watch is behind the API server for {deaf}")
        if problems:
            raise RuntimeError("; ".join(problems))
        return report
