"""Decide, without talking to the API server, whether a child needs to be written.

A child is up to date when (1) it carries the digest of exactly the desired object in the
`djangostack.io/applied` annotation — so a field we stopped setting still triggers a write
that lets server-side apply remove it — and (2) every desired field is present in the live
object with the same value — so a hand edit (drift) is noticed and undone. Fields the API
server or other controllers add (defaults, status, replicas under an HPA) are ignored.
"""

from __future__ import annotations

import copy
from typing import Any

from djangostack_operator.render import meta

APPLIED = "djangostack.io/applied"


def with_applied_digest(desired: dict[str, Any]) -> dict[str, Any]:
    """A copy of `desired` annotated with its own digest."""
    stamped = copy.deepcopy(desired)
    annotations = stamped["metadata"].setdefault("annotations", {})
    annotations.pop(APPLIED, None)
    digest = meta.checksum(stamped)[:16]
    annotations[APPLIED] = digest
    return stamped


def is_subset(desired: Any, live: Any) -> bool:
    """Every value in `desired` is in `live`: dicts by key, lists item by item (same length).

    An empty desired value ("", {}, []) matches an absent one: the API server drops empty
    fields it stores with `omitempty` (an env var's `value: ""`), and a write to put them
    back would repeat every resync.
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        return all(
            is_subset(value, live[key]) if key in live else _empty(value)
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return False
        return all(is_subset(d, v) for d, v in zip(desired, live, strict=True))
    return bool(desired == live)


def _empty(value: Any) -> bool:
    return isinstance(value, (str, dict, list)) and not value


def up_to_date(stamped: dict[str, Any], live: dict[str, Any] | None) -> bool:
    """`stamped` (from with_applied_digest) needs no write over `live`."""
    if live is None:
        return False
    live_digest = (live.get("metadata", {}).get("annotations") or {}).get(APPLIED)
    if live_digest != stamped["metadata"]["annotations"][APPLIED]:
        return False
    return is_subset(stamped, live)


def applies_field(live: dict[str, Any] | None, manager: str, *path: str) -> bool:
    """`manager` owns the field at `path` through an apply (per the live managedFields)."""
    for entry in (live or {}).get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") != manager or entry.get("operation") != "Apply":
            continue
        node: Any = entry.get("fieldsV1") or {}
        for part in path:
            node = node.get(f"f:{part}") if isinstance(node, dict) else None
        if node is not None:
            return True
    return False
