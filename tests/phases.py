"""Statuses of a stack in every phase, made by compute_status from observed children: what
GitOps tools (Argo CD's health check, kstatus) are tested against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from djangostack_operator.release import ReleasePlan
from djangostack_operator.render import RenderContext, render
from djangostack_operator.render.pod import Release
from djangostack_operator.spec import DjangoStack
from djangostack_operator.status import Observation, WriteFailure, compute_status
from djangostack_operator.status_types import DjangoStackStatus, Phase
from djangostack_operator.validation import parse_stack
from tests.factories import stack_object

NOW = "2026-11-22T10:00:00Z"
OLD_IMAGE = "registry.example.com/shop:1.0.0"


def as_running(obj: dict[str, Any], ready: bool = True) -> dict[str, Any]:
    """What the controllers report for a workload that rolled out (or not)."""
    obj = {**obj, "metadata": {**obj["metadata"], "generation": 1}}
    replicas = obj["spec"].get("replicas", 1)
    count = replicas if ready else 0
    obj["status"] = {
        "observedGeneration": 1,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": count,
        "availableReplicas": count,
    }
    return obj


def observed(
    stack: DjangoStack, ready: bool = True, release: Release | None = None
) -> dict[str, Any]:
    """The stack's children as the API server would show them once running (or not ready)."""
    children: dict[str, dict[str, Any]] = {}
    for rendered in render(stack, RenderContext(release=release)):
        obj = (
            as_running(rendered, ready)
            if rendered["kind"] in ("Deployment", "StatefulSet")
            else rendered
        )
        children.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    return children


def released(stack: DjangoStack) -> ReleasePlan:
    """The plan once spec.image is migrated and serving."""
    return ReleasePlan(Release(stack.spec.image, stack.spec.release_hash), False,
                       ("True", "Succeeded", "migrated"))  # fmt: skip


@dataclass(frozen=True)
class PhaseCase:
    """A stack's status in one situation, and the phase compute_status gives it."""

    name: str
    phase: Phase
    status: DjangoStackStatus

    def status_object(self) -> dict[str, Any]:
        """The status as the operator writes it."""
        written: dict[str, Any] = self.status.model_dump(mode="json", by_alias=True)
        return written


def phase_cases(generation: int = 1) -> list[PhaseCase]:
    """One status per phase (two for Degraded: unready pods, and writes being retried),
    each computed for a stack at `generation`."""
    document = stack_object()
    document["metadata"]["generation"] = generation
    stack = parse_stack(document)
    old = Release(OLD_IMAGE, "aaaaaaaaaa")

    def case(
        name: str,
        phase: Phase,
        children: dict[str, Any],
        plan: ReleasePlan,
        failures: tuple[WriteFailure, ...] = (),
    ) -> PhaseCase:
        observation = Observation(children, plan, True, failures=failures)
        return PhaseCase(name, phase, compute_status(stack, observation, None, NOW))

    not_ready_database = observed(stack)
    not_ready_database["StatefulSet"][stack.names.postgres]["status"]["readyReplicas"] = 0
    rolling = observed(stack)
    rolling["Deployment"][stack.names.web]["metadata"]["generation"] = 2
    unready_web = observed(stack)
    unready_web["Deployment"][stack.names.web]["status"]["readyReplicas"] = 0
    retry = WriteFailure(f"CronJob {stack.names.backup}", 503, "the server is busy")
    serving_old = observed(stack, release=old)
    cases = [
        case("ready", "Ready", observed(stack), released(stack)),
        case(
            "provisioning", "Provisioning", not_ready_database,
            ReleasePlan(None, False, ("False", "WaitingForDatabase", "waiting")),
        ),
        case(
            "migrating", "Migrating", serving_old,
            ReleasePlan(old, False, ("False", "Running", "Job running")),
        ),
        case(
            "backing-up", "BackingUp", serving_old,
            ReleasePlan(old, False, ("False", "BackingUp", "backup before migrating")),
        ),
        case(
            "restoring", "Restoring", observed(stack),
            ReleasePlan(None, False, ("False", "Restoring", "restoring"), hold=True),
        ),
        case("rolling", "Rolling", rolling, released(stack)),
        case("degraded", "Degraded", unready_web, released(stack)),
        case("retrying", "Degraded", observed(stack), released(stack), (retry,)),
        case(
            "stalled", "Stalled", serving_old,
            ReleasePlan(old, False, ("False", "Failed", "Job failed; still serving 1.0.0")),
        ),
    ]  # fmt: skip
    for case in cases:
        assert case.status.phase == case.phase, (case.name, case.status.phase)
    return cases
