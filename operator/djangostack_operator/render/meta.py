"""Metadata every child object carries: labels, namespace, ownerReference, checksums."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from djangostack_operator import vocabulary as keys
from djangostack_operator.spec import API_VERSION, KIND, DjangoStack

MANAGED_BY = keys.OPERATOR
APP_NAME = "djangostack"
# Annotation on pod templates; its value changes when configuration the pods read changes.
CONFIG_CHECKSUM = "djangostack.io/config-checksum"
POOL_LABEL = "djangostack.io/worker-pool"
RELEASE_IMAGE = "djangostack.io/release-image"
RELEASE_HASH = "djangostack.io/release-hash"
# Stands in for the uid when rendering offline; the API server assigns the real one.
OFFLINE_UID = "00000000-0000-0000-0000-000000000000"


def selector_labels(stack: DjangoStack, component: str) -> dict[str, str]:
    """Labels that select a component's pods; never change them (selectors are immutable)."""
    return {
        keys.NAME: APP_NAME,
        keys.INSTANCE: stack.name,
        keys.COMPONENT: component,
    }


def labels(stack: DjangoStack, component: str) -> dict[str, str]:
    """The recommended labels of every child object."""
    return {
        **selector_labels(stack, component),
        keys.PART_OF: stack.name,
        keys.MANAGED_BY: MANAGED_BY,
    }


def version_label(image: str) -> str:
    """`app.kubernetes.io/version` of an image: its tag, else the start of its digest,
    cut to what a label value may hold (63 characters, alphanumeric at both ends)."""
    reference, _, digest = image.partition("@")
    last_segment = reference.rsplit("/", 1)[-1]
    tag = last_segment.partition(":")[2]
    value = tag or digest.replace(":", "-")[:19]
    return value[:63].strip("-_.") or "unknown"


def with_version(obj: dict[str, Any], image: str) -> dict[str, Any]:
    """`obj` with the version label of `image`, unless its builder set one already."""
    obj.setdefault("metadata", {}).setdefault("labels", {}).setdefault(
        keys.VERSION, version_label(image)
    )
    return obj


def owner_reference(stack: DjangoStack) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": stack.name,
        "uid": stack.metadata.uid or OFFLINE_UID,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(
    stack: DjangoStack,
    name: str,
    component: str,
    *,
    owned: bool = True,
    extra_labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Object metadata. `owned=False` leaves out the ownerReference (retained volumes)."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": stack.namespace,
        "labels": {**labels(stack, component), **(extra_labels or {})},
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    if owned:
        meta["ownerReferences"] = [owner_reference(stack)]
    return meta


def checksum(value: Any) -> str:
    """A stable digest of any JSON-able value (keys sorted)."""
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()
