"""Where pods run and who they are: a tier's Placement applied to its pod template.

Every builder of a pod template (app tiers, data services, Jobs) ends with `placed`, so
one function decides what a placement means for every pod of the stack.
"""

from __future__ import annotations

from typing import Any

from djangostack_operator.spec import Placement


def spread_over_nodes(selector: dict[str, str]) -> list[dict[str, Any]]:
    """The operator's own spread of a replicated tier: one node's loss takes as few pods as
    the nodes allow, and a single node still schedules them all."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(selector)},
        }
    ]


def _dump(value: Any) -> Any:
    """In the Pod API's shape, without the fields left at their default (an empty list, the
    default operator): the Pod API means the same by their absence."""
    if isinstance(value, list):
        return [_dump(item) for item in value]
    return value.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)


def placed(
    template: dict[str, Any], placement: Placement, selector: dict[str, str]
) -> dict[str, Any]:
    """`template` (a pod template, changed in place and returned) with `placement` applied.

    `selector` selects the tier's pods: a spread constraint without labelSelector counts
    them (a constraint that selects nothing would spread nothing).
    """
    metadata = template.setdefault("metadata", {})
    spec = template["spec"]
    if placement.pod_labels:
        # The operator's labels win; the model refuses user keys among them anyway.
        metadata["labels"] = {**placement.pod_labels, **metadata.get("labels", {})}
    if placement.pod_annotations:
        metadata["annotations"] = {**placement.pod_annotations, **metadata.get("annotations", {})}
    if placement.node_selector is not None:
        spec["nodeSelector"] = dict(placement.node_selector)
    if placement.tolerations is not None:
        spec["tolerations"] = _dump(placement.tolerations)
    if placement.affinity is not None:
        spec["affinity"] = _dump(placement.affinity)
    if placement.topology_spread_constraints is not None:
        constraints = _dump(placement.topology_spread_constraints)
        for constraint in constraints:
            constraint.setdefault("labelSelector", {"matchLabels": dict(selector)})
        spec["topologySpreadConstraints"] = constraints
    if placement.priority_class_name is not None:
        spec["priorityClassName"] = placement.priority_class_name
    if placement.service_account_name is not None:
        spec["serviceAccountName"] = placement.service_account_name
    return template
