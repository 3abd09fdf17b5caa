"""kstatus — the status library of kubectl's apply --wait, Flux and cli-utils — reads live
DjangoStacks in every phase as the operator means them: Current only when Ready for the
current generation, InProgress while the operator works or before it observed the newest
spec, Failed when Stalled.

The judge is cli-utils' own `pkg/kstatus/status`, through tests/kstatus (a few lines of Go,
built here from the Go module proxy), on objects read back from the API server."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from kubernetes import client

from djangostack_devcluster import tools
from djangostack_operator.spec import GROUP, PLURAL, VERSION
from tests.factories import REPO, stack_object
from tests.kube_helpers import kubectl
from tests.phases import PhaseCase, phase_cases

pytestmark = pytest.mark.cluster


def expected(case: PhaseCase) -> str:
    if case.status.phase == "Ready":
        return "Current"
    if case.status.phase == "Stalled":
        return "Failed"
    return "InProgress"


def test_kstatus_of_live_stacks_in_every_phase(
    local_cluster: Any,
    api_client: client.ApiClient,
    djangostack_crd: dict[str, Any],
    namespace: str,
) -> None:
    # No operator watches this namespace: the statuses stay as written.
    objects = client.CustomObjectsApi(api_client)
    cases = phase_cases(generation=1)
    for case in cases:
        body = stack_object(case.name, namespace, uid=None)
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, case.name, {"status": case.status_object()}
        )
    ready = next(case for case in cases if case.status.phase == "Ready")
    stale = stack_object("stale", namespace, uid=None)
    objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, stale)
    objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, "stale", {"status": ready.status_object()}
    )
    # A spec change the operator has not seen yet: generation 2, status still for 1.
    objects.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "stale", {"spec": {"web": {"replicas": 3}}}
    )

    listed = kubectl(local_cluster, "-n", namespace, "get", PLURAL, "-o", "json").stdout
    program = tools.ensure_go_program(REPO / "tests" / "kstatus")
    judged = json.loads(
        subprocess.run(
            [str(program)], input=listed, capture_output=True, text=True, check=True, timeout=60
        ).stdout
    )
    assert {name: result["status"] for name, result in judged.items()} == {
        **{case.name: expected(case) for case in cases},
        "stale": "InProgress",
    }
    assert {expected(case) for case in cases} == {"Current", "InProgress", "Failed"}
    stalled = next(case for case in cases if case.status.phase == "Stalled")
    stalled_condition = next(c for c in stalled.status.conditions if c.type == "Stalled")
    assert stalled_condition.message in judged[stalled.name]["message"]
