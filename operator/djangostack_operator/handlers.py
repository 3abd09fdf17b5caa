"""The only module with kopf decorators: settings, watch caches (indexes) and triggers.

One reconcile (reconcile.py) runs when a stack is resumed, created or updated, when one of
its children changes or disappears, and every RESYNC_SECONDS. It reads everything from kopf
indexes, which kopf keeps current from its watches, so an idle resync costs no API call.

The resync is a thread of ours rather than a `kopf.timer`: kopf puts a finalizer on every
object that has a timer, and a finalizer would make stacks undeletable while the operator
is not running. Without one, deleting a stack never waits for the operator.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from djangostack_operator import metrics
from djangostack_operator.kube import FIELD_MANAGER, Kube, load_api_client
from djangostack_operator.reconcile import Inputs, RecentWrites, reconcile
from djangostack_operator.references import ObjectInfo
from djangostack_operator.render.ingress import tls_secret_name
from djangostack_operator.render.meta import MANAGED_BY
from djangostack_operator.render.pod import referenced_config
from djangostack_operator.render.secrets import generated_secrets
from djangostack_operator.spec import GROUP, PLURAL, VERSION
from djangostack_operator.validation import InvalidStackError, parse_stack

RESYNC_SECONDS = 30.0  # `djangostack run --resync-seconds` changes it
# True when namespaces are given as globs: kopf must then watch Namespaces to resolve them.
NAMESPACE_GLOBS = False
MANAGED = {"app.kubernetes.io/managed-by": MANAGED_BY}
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
# Kind -> (group/version..., plural) of every child kind the operator reads.
CHILD_RESOURCES: dict[str, tuple[str, ...]] = {
    "Deployment": ("apps", "v1", "deployments"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "Service": ("v1", "services"),
    "PodDisruptionBudget": ("policy", "v1", "poddisruptionbudgets"),
    "HorizontalPodAutoscaler": ("autoscaling", "v2", "horizontalpodautoscalers"),
    "Ingress": ("networking.k8s.io", "v1", "ingresses"),
    "Job": ("batch", "v1", "jobs"),
    "CronJob": ("batch", "v1", "cronjobs"),
    "ConfigMap": ("v1", "configmaps"),
    "PersistentVolumeClaim": ("v1", "persistentvolumeclaims"),
}

log = logging.getLogger("djangostack_operator")
_kube: Kube | None = None
_locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()
# Status last written per stack uid, so a stale watch event does not cause a repeated write.
_written: dict[str, Any] = {}
# The live kopf indexes, captured from the first handler call (kopf only hands them to handlers).
_indexes: dict[str, kopf.Index[Any, Any]] = {}
_stopping = threading.Event()
_recent = RecentWrites()


def kube() -> Kube:
    global _kube  # noqa: PLW0603 - one client per process, made at start-up
    if _kube is None:
        _kube = Kube(load_api_client())
    return _kube


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Progress and diff-base in annotations: the status schema is ours alone.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    # Only warnings become Events on their own; reconcile posts the Events that matter.
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = MANAGED_BY
    # A failed API call is retried soon, not after kopf's default minute.
    settings.execution.default_backoff = 5
    settings.networking.error_backoffs = (1, 2, 5, 10)
    settings.watching.server_timeout = 300
    # The resources are known: no cluster-wide watch of CRDs and Namespaces (least privilege,
    # see the chart), unless namespace globs need resolving.
    settings.scanning.disabled = not NAMESPACE_GLOBS
    kube()
    _stopping.clear()
    threading.Thread(target=_resync_loop, name="resync", daemon=True).start()


@kopf.on.cleanup()
def stop_resync(**_: Any) -> None:
    _stopping.set()


def _resync_loop() -> None:
    """Every RESYNC_SECONDS, reconcile every stack: undo drift a missed event hid, pick up a
    Secret that was missing, refresh status. With nothing to change it writes nothing."""
    while not _stopping.wait(RESYNC_SECONDS):
        for body in _stack_bodies(_indexes):
            try:
                _reconcile_logged(body, _indexes, "a resync")
            except Exception as error:  # one bad stack must not stop the others
                log.warning("Resync of %s failed: %s", _ref(body), error)


def _stack_bodies(indexes: Mapping[str, Any], namespace: str | None = None) -> list[Any]:
    """Every stack the operator knows (in `namespace`, if given), from the stacks index."""
    stacks_index = indexes.get("stacks")
    if stacks_index is None:
        return []
    return [
        body
        for key in list(stacks_index)
        if namespace is None or key[0] == namespace
        for body in list(stacks_index.get(key, []))
    ]


def _ref(body: Mapping[str, Any]) -> str:
    return f"{body['metadata']['namespace']}/{body['metadata']['name']}"


def _reconcile_logged(body: Mapping[str, Any], indexes: Mapping[str, Any], why: str) -> None:
    """Reconcile outside the stack's own handlers: event handlers and the resync are not
    retried by kopf, so a retryable failure is logged (the next trigger or resync retries)."""
    try:
        run_reconcile(body, indexes)
    except kopf.TemporaryError as error:
        log.warning("Reconcile of %s after %s failed: %s", _ref(body), why, error)


def _plain(body: Mapping[str, Any]) -> dict[str, Any]:
    """A detached copy of a kopf body (kopf's bodies are live views)."""
    result: dict[str, Any] = json.loads(json.dumps(dict(body)))
    return result


def _child_indexer(kind: str) -> Any:
    def index_child(
        namespace: str | None, labels: Mapping[str, str], body: kopf.Body, **_: Any
    ) -> dict[Any, Any]:
        instance = labels.get(INSTANCE)
        if not instance:
            return {}
        obj = _plain(body)
        # managedFields is most of an object's size; only our own entry is ever consulted.
        metadata = obj.get("metadata", {})
        metadata["managedFields"] = [
            entry
            for entry in metadata.get("managedFields") or []
            if entry.get("manager") == FIELD_MANAGER
        ]
        return {(namespace, instance): (kind, obj)}

    index_child.__name__ = f"index_{kind.lower()}"
    return index_child


for _kind, _resource in CHILD_RESOURCES.items():
    kopf.index(*_resource, id=f"children_{_resource[-1]}", labels=MANAGED)(_child_indexer(_kind))


def _digest(data: Mapping[str, Any] | None) -> str:
    return hashlib.sha256(json.dumps(dict(data or {}), sort_keys=True).encode()).hexdigest()


@kopf.index("v1", "secrets")
def secrets_by_namespace(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    """Keys and a digest of every Secret: values never leave this function."""
    data = dict(body.get("data") or {})
    return {namespace: (name, ObjectInfo(frozenset(data), _digest(data)))}


@kopf.index("v1", "configmaps")
def config_maps_by_namespace(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    data = {**dict(body.get("data") or {}), **dict(body.get("binaryData") or {})}
    return {namespace: (name, ObjectInfo(frozenset(data), _digest(data)))}


@kopf.index(GROUP, VERSION, PLURAL)
def stacks(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {(namespace, name): _plain(body)}


def _store(indexes: Mapping[str, Any], index: str, key: Any) -> list[Any]:
    try:
        return list(indexes[index][key])
    except KeyError:
        return []


def gather(body: Mapping[str, Any], indexes: Mapping[str, Any]) -> Inputs:
    """Everything one reconcile reads, from the indexes."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    uid = body["metadata"].get("uid")
    children: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in CHILD_RESOURCES}
    for resource in CHILD_RESOURCES.values():
        for kind, obj in _store(indexes, f"children_{resource[-1]}", (namespace, name)):
            owners = obj["metadata"].get("ownerReferences") or []
            # Retained volume claims have no owner but belong to the stack of that name, and
            # scheduled backup Jobs are owned by the stack's CronJob.
            component = (obj["metadata"].get("labels") or {}).get(COMPONENT)
            if (
                kind == "PersistentVolumeClaim"
                or (kind == "Job" and component == "backup")
                or any(o.get("uid") == uid for o in owners)
            ):
                children[kind][obj["metadata"]["name"]] = obj
    secrets = dict(_store(indexes, "secrets_by_namespace", namespace))
    config_maps = dict(_store(indexes, "config_maps_by_namespace", namespace))
    return Inputs(_plain(body), children, secrets, config_maps, _written.get(uid or ""))


def _emitter(body: Mapping[str, Any]) -> Any:
    def emit(event_type: str, reason: str, message: str) -> None:
        target: Any = dict(body)  # kopf accepts any mapping with apiVersion/kind/metadata
        kopf.event(target, type=event_type, reason=reason, message=message)

    return emit


def retry_delay(http_status: int | None) -> float:
    """Seconds before a failed reconcile runs again: a conflict means someone wrote in
    between, so look again almost at once; throttling and server errors get a little longer."""
    if http_status == 409:
        return 1.0
    if http_status == 429:
        return 10.0
    return 5.0


def run_reconcile(body: Mapping[str, Any], indexes: Mapping[str, Any]) -> None:
    """Reconcile one stack, one reconcile per stack at a time; API errors become retries."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    with _locks_guard:
        lock = _locks[(namespace, name)]
    started = time.monotonic()
    with lock:
        try:
            now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            outcome = reconcile(kube(), gather(body, indexes), now, _emitter(body), _recent)
        except ApiException as error:
            metrics.RECONCILES.labels(result="error").inc()
            metrics.RECONCILE_ERRORS.labels(kind=f"http_{error.status}").inc()
            raise kopf.TemporaryError(
                f"API error {error.status} {error.reason}", delay=retry_delay(error.status)
            ) from None
        except Exception:
            metrics.RECONCILES.labels(result="error").inc()
            metrics.RECONCILE_ERRORS.labels(kind="exception").inc()
            raise
        finally:
            metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)
    metrics.RECONCILES.labels(result="changed" if outcome.writes else "unchanged").inc()
    if outcome.status is not None:
        _written[str(body["metadata"].get("uid"))] = outcome.status
        ready = next((c.status for c in outcome.status.conditions if c.type == "Ready"), None)
        metrics.record_ready(namespace, name, ready)
    if outcome.writes:
        log.info(
            "Reconciled DjangoStack %s/%s: wrote %s", namespace, name, ", ".join(outcome.writes)
        )


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def reconcile_stack(body: kopf.Body, **kwargs: Any) -> None:
    _remember_indexes(kwargs)
    run_reconcile(body, kwargs)


def _remember_indexes(kwargs: Mapping[str, Any]) -> None:
    for key, value in kwargs.items():
        if isinstance(value, kopf.Index):
            _indexes[key] = value


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
def forget_stack(namespace: str | None, name: str, uid: str, **_: Any) -> None:
    metrics.record_ready(namespace or "", name, None)
    _written.pop(uid, None)


def _child_changed(namespace: str | None, labels: Mapping[str, str], **kwargs: Any) -> None:
    """A child changed or went away: reconcile its stack (status, drift, next release step)."""
    _remember_indexes(kwargs)
    instance = labels.get(INSTANCE)
    if not instance:
        return
    for body in _store(kwargs, "stacks", (namespace, instance))[:1]:
        _reconcile_logged(body, kwargs, "a child change")


for _resource in CHILD_RESOURCES.values():
    kopf.on.event(*_resource, id=f"child_{_resource[-1]}", labels=MANAGED)(_child_changed)


def _referenced_by(body: Mapping[str, Any], kind: str, name: str) -> bool:
    """The stack reads, or generates, the Secret/ConfigMap `name`."""
    try:
        stack = parse_stack(body)
    except InvalidStackError:
        return False
    if f"{kind}/{name}" in referenced_config(stack):
        return True
    generated = {wanted.name for wanted in generated_secrets(stack)}
    return kind == "Secret" and (name in generated or name == tls_secret_name(stack))


def _config_changed(kind: str) -> Any:
    def config_changed(namespace: str | None, name: str, **kwargs: Any) -> None:
        """A Secret or ConfigMap changed: reconcile the stacks of its namespace that use it, so
        a missing Secret that appears unblocks them and changed config rolls their pods."""
        _remember_indexes(kwargs)
        for body in _stack_bodies(kwargs, namespace):
            if _referenced_by(body, kind, name):
                _reconcile_logged(body, kwargs, f"a {kind} change")

    config_changed.__name__ = f"{kind.lower()}_changed"
    return config_changed


kopf.on.event("v1", "secrets", id="secret_changed")(_config_changed("Secret"))
kopf.on.event("v1", "configmaps", id="configmap_changed")(_config_changed("ConfigMap"))
