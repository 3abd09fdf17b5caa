"""What the watches delivered, kept for the reconciles: the operator's watch caches.

kopf's event handlers write here (from the event loop); worker threads read one stack's
slice at a time. Objects are replaced, never mutated, so a slice is a consistent snapshot
of references. Secrets and ConfigMaps are kept only as their keys and a content digest.

The cache also remembers which objects it has heard of (and which were deleted when), so
the start-up listing (controller.SyncGate) can tell when it holds everything that existed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from djangostack_operator import certificates
from djangostack_operator.kinds import CHILD_KINDS
from djangostack_operator.references import ObjectInfo
from djangostack_operator.vocabulary import INSTANCE, MADE_FOR, MANAGED_BY, OPERATOR

# (kind, namespace, name) of any object the cache holds.
ObjectKey = tuple[str, str, str]
StackKey = tuple[str, str]  # (namespace, name)
# How long a deletion is remembered for the start-up listing's sake.
TOMBSTONE_SECONDS = 300.0


def plain(body: Mapping[str, Any]) -> dict[str, Any]:
    """A detached copy of a kopf body (kopf's bodies are live views)."""
    result: dict[str, Any] = json.loads(json.dumps(dict(body)))
    return result


def content_digest(data: Mapping[str, Any] | None, key: str = "") -> str:
    """A digest of the values; keyed (HMAC) when `key` is given."""
    content = json.dumps(dict(data or {}), sort_keys=True).encode()
    if key:
        return hmac.new(key.encode(), content, hashlib.sha256).hexdigest()
    return hashlib.sha256(content).hexdigest()


def config_info(kind: str, body: Mapping[str, Any]) -> ObjectInfo:
    """Keys and digest of a Secret or ConfigMap: the values are not kept.

    The digest ends up in the pods' checksum annotation, readable by anyone who may read
    pods. A Secret's is keyed with the Secret's uid, which only those who may read the Secret
    learn, so the annotation cannot be used to test guesses of a short value."""
    data = dict(body.get("data") or {})
    metadata = body.get("metadata") or {}
    key = ""
    if kind == "ConfigMap":
        data.update(dict(body.get("binaryData") or {}))
    else:
        key = str(metadata.get("uid") or "")
    owner = next(
        (r.get("uid") for r in metadata.get("ownerReferences") or [] if r.get("controller")), None
    )
    made_for = (metadata.get("annotations") or {}).get(MADE_FOR)
    ours = (metadata.get("labels") or {}).get(MANAGED_BY) == OPERATOR
    expiry = None
    if kind == "Secret" and "tls.crt" in data:
        expiry = certificates.not_after(str(data["tls.crt"])) or ""
    return ObjectInfo(frozenset(data), content_digest(data, key), made_for, owner, ours, expiry)


def _older(metadata: Mapping[str, Any], kept: Mapping[str, Any]) -> bool:
    return bool(
        metadata.get("uid") == kept.get("uid")
        and int(metadata.get("generation") or 0) < int(kept.get("generation") or 0)
    )


class TakenNames(Mapping[tuple[str, str], str]):
    """(kind, name) -> "DjangoStack <name>" for the children of the namespace's other stacks,
    looked up in the cache's index one name at a time (a reconcile asks only for its own)."""

    def __init__(self, cache: Cache, stack: StackKey) -> None:
        self.cache = cache
        self.stack = stack

    def __getitem__(self, kind_and_name: tuple[str, str]) -> str:
        kind, name = kind_and_name
        holder = self.cache.holder((kind, self.stack[0], name))
        if holder is None or holder == self.stack:
            raise KeyError(kind_and_name)
        return f"DjangoStack {holder[1]}"

    def __iter__(self) -> Iterator[tuple[str, str]]:
        with self.cache._lock:
            owners = list(self.cache._child_owner.items())
        return iter([(k, n) for (k, ns, n), s in owners if ns == self.stack[0] and s != self.stack])

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass(frozen=True)
class StackSlice:
    """Everything one reconcile reads about one stack."""

    body: dict[str, Any] | None  # None: the stack is gone
    children: Mapping[str, Mapping[str, dict[str, Any]]]  # kind -> name -> object
    secrets: Mapping[str, ObjectInfo]  # of the stack's namespace, by name
    config_maps: Mapping[str, ObjectInfo]
    # (kind, name) of the children of the namespace's other stacks -> "DjangoStack <name>"
    taken: Mapping[tuple[str, str], str] = field(default_factory=dict)


class Cache:
    def __init__(self, own_manager: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.own_manager = own_manager
        self.clock = clock
        self._lock = threading.Lock()
        self._stacks: dict[StackKey, dict[str, Any]] = {}
        # (namespace, instance label) -> kind -> name -> object
        self._children: dict[StackKey, dict[str, dict[str, dict[str, Any]]]] = {}
        self._child_owner: dict[ObjectKey, StackKey] = {}
        self._config: dict[str, dict[str, dict[str, ObjectInfo]]] = {}  # kind -> ns -> name
        self._deleted: dict[ObjectKey, float] = {}
        self._unlabelled: set[ObjectKey] = set()  # managed objects without an instance label

    # -- written by the watches ---------------------------------------------------------

    def put_stack(self, body: Mapping[str, Any]) -> bool:
        """Keep the stack's newest body; False when `body` is older than the one kept.

        A watch that restarts may list from a lagging API server's cache and deliver an
        older spec of a stack: acting on it would undo what the newer one did (prune the
        new release's migrations Job, then create it again). Within one object (one uid)
        the generation only grows, so an older one is ignored."""
        obj = plain(body)
        metadata = obj["metadata"]
        key = (metadata["namespace"], metadata["name"])
        with self._lock:
            kept = self._stacks.get(key)
            if kept is not None and _older(metadata, kept["metadata"]):
                return False
            self._stacks[key] = obj
            self._deleted.pop(("DjangoStack", *key), None)
        return True

    def drop_stack(self, namespace: str, name: str) -> None:
        with self._lock:
            self._stacks.pop((namespace, name), None)
            self._deleted[("DjangoStack", namespace, name)] = self.clock()

    def put_child(self, kind: str, body: Mapping[str, Any]) -> StackKey | None:
        """Keep a labelled child; returns the stack key it belongs to (None: no instance)."""
        obj = plain(body)
        metadata = obj.setdefault("metadata", {})
        namespace, name = metadata.get("namespace", ""), metadata["name"]
        instance = (metadata.get("labels") or {}).get(INSTANCE)
        # managedFields is most of an object's size; only our own entries are consulted.
        metadata["managedFields"] = [
            entry
            for entry in metadata.get("managedFields") or []
            if str(entry.get("manager", "")).startswith(self.own_manager)
        ]
        object_key = (kind, namespace, name)
        with self._lock:
            self._forget_child_locked(object_key)
            self._deleted.pop(object_key, None)
            if not instance:
                self._unlabelled.add(object_key)
                return None
            stack_key = (namespace, instance)
            self._children.setdefault(stack_key, {}).setdefault(kind, {})[name] = obj
            self._child_owner[object_key] = stack_key
            return stack_key

    def drop_child(self, kind: str, namespace: str, name: str) -> StackKey | None:
        object_key = (kind, namespace, name)
        with self._lock:
            stack_key = self._forget_child_locked(object_key)
            self._deleted[object_key] = self.clock()
            return stack_key

    def _forget_child_locked(self, object_key: ObjectKey) -> StackKey | None:
        kind, _, name = object_key
        self._unlabelled.discard(object_key)
        stack_key = self._child_owner.pop(object_key, None)
        if stack_key is not None:
            by_kind = self._children.get(stack_key, {})
            by_kind.get(kind, {}).pop(name, None)
            if not any(by_kind.values()):
                self._children.pop(stack_key, None)
        return stack_key

    def put_config(self, kind: str, namespace: str, name: str, info: ObjectInfo) -> None:
        with self._lock:
            self._config.setdefault(kind, {}).setdefault(namespace, {})[name] = info
            self._deleted.pop((f"config/{kind}", namespace, name), None)

    def drop_config(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            by_name = self._config.get(kind, {}).get(namespace, {})
            by_name.pop(name, None)
            if not by_name:
                self._config.get(kind, {}).pop(namespace, None)
            self._deleted[(f"config/{kind}", namespace, name)] = self.clock()

    # -- read by the workers ------------------------------------------------------------

    def stack_keys(self) -> list[StackKey]:
        with self._lock:
            return list(self._stacks)

    def stack_keys_in(self, namespace: str) -> list[StackKey]:
        with self._lock:
            return [key for key in self._stacks if key[0] == namespace]

    def stack(self, key: StackKey) -> dict[str, Any] | None:
        with self._lock:
            return self._stacks.get(key)

    def slice(self, key: StackKey) -> StackSlice:
        namespace = key[0]
        with self._lock:
            children = {
                kind: dict(objects) for kind, objects in self._children.get(key, {}).items()
            }
            return StackSlice(
                body=self._stacks.get(key),
                children={child.kind: children.get(child.kind, {}) for child in CHILD_KINDS},
                secrets=dict(self._config.get("Secret", {}).get(namespace, {})),
                config_maps=dict(self._config.get("ConfigMap", {}).get(namespace, {})),
                taken=TakenNames(self, key),
            )

    def holder(self, object_key: ObjectKey) -> StackKey | None:
        """The stack whose child `object_key` is, by its instance label."""
        with self._lock:
            return self._child_owner.get(object_key)

    def knows(self, object_key: ObjectKey, since: float) -> bool:
        """The cache holds the object, or saw it deleted at or after `since`."""
        kind, namespace, name = object_key
        with self._lock:
            deleted_at = self._deleted.get(object_key)
            if deleted_at is not None and deleted_at >= since:
                return True
            if kind == "DjangoStack":
                return (namespace, name) in self._stacks
            if kind.startswith("config/"):
                return name in self._config.get(kind[7:], {}).get(namespace, {})
            return object_key in self._child_owner or object_key in self._unlabelled

    def prune_tombstones(self) -> None:
        cutoff = self.clock() - TOMBSTONE_SECONDS
        with self._lock:
            for key in [k for k, at in self._deleted.items() if at < cutoff]:
                del self._deleted[key]
