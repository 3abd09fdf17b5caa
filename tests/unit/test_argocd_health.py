"""The Argo CD health check (integrations/argocd/.../health.lua), run by a real Lua 5.1
interpreter (Argo CD's gopher-lua speaks 5.1) on statuses compute_status makes in every
phase, and the copy of it in docs/gitops.md."""

from __future__ import annotations

from typing import Any

import pytest
from lupa import lua51

from tests.factories import REPO, stack_object
from tests.phases import PhaseCase, phase_cases

HEALTH_LUA = (
    REPO / "integrations" / "argocd" / "resource_customizations" / "djangostack.io"
    / "DjangoStack" / "health.lua"
)  # fmt: skip
CASES = phase_cases(generation=4)


def argo_health(obj: dict[str, Any]) -> dict[str, str]:
    """What Argo CD does with a health.lua: the object as the global `obj`, the script's
    returned table as the health."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)

    def to_lua(value: Any) -> Any:
        if isinstance(value, dict):
            return lua.table_from({k: to_lua(v) for k, v in value.items() if v is not None})
        if isinstance(value, list):
            return lua.table_from([to_lua(item) for item in value])
        return value

    lua.globals().obj = to_lua(obj)
    returned = lua.execute(HEALTH_LUA.read_text())
    return {"status": returned["status"], "message": returned["message"]}


def live_object(case: PhaseCase, generation: int = 4) -> dict[str, Any]:
    obj = stack_object()
    obj["metadata"]["generation"] = generation
    obj["status"] = case.status_object()
    return obj


def expected_health(case: PhaseCase) -> str:
    """Healthy only when Ready; Degraded when stalled or degraded; Progressing otherwise."""
    if case.status.phase == "Ready":
        return "Healthy"
    if case.status.phase in ("Stalled", "Degraded"):
        return "Degraded"
    return "Progressing"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_health_follows_the_phase_with_the_operators_message(case: PhaseCase) -> None:
    health = argo_health(live_object(case))
    assert health["status"] == expected_health(case)
    conditions = {c.type: c for c in case.status.conditions}
    deciding = conditions["Stalled"] if case.status.phase == "Stalled" else conditions["Ready"]
    assert deciding.message in health["message"]


def test_each_health_is_reached() -> None:
    assert {expected_health(case) for case in CASES} == {"Healthy", "Degraded", "Progressing"}


def test_a_status_for_an_older_generation_is_progressing_even_when_ready() -> None:
    ready = next(case for case in CASES if case.status.phase == "Ready")
    health = argo_health(live_object(ready, generation=5))
    assert health["status"] == "Progressing"
    assert "generation 5" in health["message"]


def test_a_stack_without_status_is_progressing() -> None:
    assert argo_health(stack_object())["status"] == "Progressing"


def test_the_docs_carry_the_same_script() -> None:
    text = (REPO / "docs" / "gitops.md").read_text()
    block = text.split("resource.customizations.health.djangostack.io_DjangoStack: |\n", 1)[1]
    block = block.split("\n```", 1)[0]
    documented = "\n".join(line.removeprefix("    ") for line in block.splitlines())
    assert documented.strip() == HEALTH_LUA.read_text().strip()
