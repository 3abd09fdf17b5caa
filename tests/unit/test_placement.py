"""Placement: where every pod of a stack runs and who it is, stack-wide and per tier; the
worker pools' disruption budgets and liveness probe."""

from __future__ import annotations

from typing import Any

import pytest

from djangostack_operator.render import RenderContext, django, render
from djangostack_operator.spec import StackNames
from djangostack_operator.validation import InvalidStackError
from tests.factories import make_stack

TOLERATE_APPS = {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}
ZONE_SPREAD = {
    "maxSkew": 1,
    "topologyKey": "topology.kubernetes.io/zone",
    "whenUnsatisfiable": "DoNotSchedule",
}
# Every pod the default stack runs, by the object that owns its template.
POD_OWNERS = {
    ("StatefulSet", "shop-postgres"), ("StatefulSet", "shop-redis"),
    ("Job", "shop-migrate-20696588c2"), ("Deployment", "shop-web"),
    ("Deployment", "shop-worker-default"), ("Deployment", "shop-beat"),
    ("CronJob", "shop-backup"), ("Job", StackNames("shop").restore_job("latest")),
    ("Job", StackNames("shop").on_demand_backup_job("1")),
}  # fmt: skip


def pod_templates(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    templates = {}
    for obj in objects:
        spec = obj.get("spec", {})
        template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get(
            "template"
        )
        if template is not None:
            templates[(obj["kind"], obj["metadata"]["name"])] = template
    return templates


def stack_with_every_pod(**spec: Any) -> list[dict[str, Any]]:
    """A stack that also restores and takes an on-demand backup, so every Job kind renders."""
    stack = make_stack(
        database={"managed": spec.pop("managed", {}), "restoreFrom": "latest"}, **spec
    )
    annotated = stack.model_copy(
        update={
            "metadata": stack.metadata.model_copy(
                update={"annotations": {"djangostack.io/backup-now": "1"}}
            )
        }
    )
    return render(annotated, RenderContext())


def test_stack_wide_placement_reaches_every_pod() -> None:
    objects = stack_with_every_pod(
        placement={
            "nodeSelector": {"pool": "apps"},
            "tolerations": [TOLERATE_APPS],
            "priorityClassName": "shop-high",
            "serviceAccountName": "shop-identity",
            "podLabels": {"team": "shop"},
            "podAnnotations": {"example.com/owner": "shop"},
        }
    )
    templates = pod_templates(objects)
    assert set(templates) == POD_OWNERS
    for owner, template in templates.items():
        spec = template["spec"]
        assert spec["nodeSelector"] == {"pool": "apps"}, owner
        assert spec["tolerations"] == [TOLERATE_APPS], owner
        assert spec["priorityClassName"] == "shop-high", owner
        assert spec["serviceAccountName"] == "shop-identity", owner
        # A ServiceAccount of the user's still gets no API token: the app never calls the API.
        assert spec["automountServiceAccountToken"] is False, owner
        assert template["metadata"]["labels"]["team"] == "shop", owner
        assert template["metadata"]["annotations"]["example.com/owner"] == "shop", owner


def test_without_placement_pods_carry_none_of_its_fields() -> None:
    for owner, template in pod_templates(stack_with_every_pod()).items():
        for name in ("nodeSelector", "tolerations", "affinity", "priorityClassName",
                     "serviceAccountName"):  # fmt: skip
            assert name not in template["spec"], owner


def test_a_tier_overrides_the_defaults_field_by_field_and_maps_merge() -> None:
    stack = make_stack(
        placement={
            "nodeSelector": {"pool": "apps"},
            "tolerations": [TOLERATE_APPS],
            "podLabels": {"team": "shop", "cost-centre": "42"},
        },
        database={
            "managed": {
                "placement": {
                    "nodeSelector": {"pool": "data"},
                    "podLabels": {"cost-centre": "7", "backup": "yes"},
                }
            }
        },
    )
    templates = pod_templates(render(stack))
    postgres = templates[("StatefulSet", "shop-postgres")]
    assert postgres["spec"]["nodeSelector"] == {"pool": "data"}
    # Not set on the tier: the stack's.
    assert postgres["spec"]["tolerations"] == [TOLERATE_APPS]
    labels = postgres["metadata"]["labels"]
    assert (labels["team"], labels["cost-centre"], labels["backup"]) == ("shop", "7", "yes")
    # The operator's labels are untouched.
    assert labels["app.kubernetes.io/component"] == "postgres"
    web = templates[("Deployment", "shop-web")]
    assert web["spec"]["nodeSelector"] == {"pool": "apps"}
    assert "backup" not in web["metadata"]["labels"]


def test_an_empty_list_on_a_tier_clears_the_default() -> None:
    stack = make_stack(
        placement={"tolerations": [TOLERATE_APPS]}, beat={"placement": {"tolerations": []}}
    )
    templates = pod_templates(render(stack))
    assert templates[("Deployment", "shop-beat")]["spec"]["tolerations"] == []
    assert templates[("Deployment", "shop-web")]["spec"]["tolerations"] == [TOLERATE_APPS]


def test_web_and_worker_pods_spread_over_nodes_unless_told_otherwise() -> None:
    stack = make_stack(workers=[{"name": "default"}, {"name": "mail"}])
    templates = pod_templates(render(stack))
    for owner, component, pool in [
        (("Deployment", "shop-web"), "web", None),
        (("Deployment", "shop-worker-default"), "worker", "default"),
        (("Deployment", "shop-worker-mail"), "worker", "mail"),
    ]:
        [constraint] = templates[owner]["spec"]["topologySpreadConstraints"]
        assert constraint["topologyKey"] == "kubernetes.io/hostname"
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
        selected = constraint["labelSelector"]["matchLabels"]
        assert selected["app.kubernetes.io/component"] == component
        assert selected.get("djangostack.io/worker-pool") == pool


def test_own_spread_constraints_replace_the_default_and_count_the_tiers_pods() -> None:
    stack = make_stack(
        workers=[{"name": "mail", "placement": {"topologySpreadConstraints": [ZONE_SPREAD]}}]
    )
    [worker] = django.worker_deployments(stack, RenderContext())
    [constraint] = worker["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert constraint["topologyKey"] == "topology.kubernetes.io/zone"
    # Without a labelSelector a constraint would count no pods: it gets the pool's.
    assert constraint["labelSelector"]["matchLabels"] == worker["spec"]["selector"]["matchLabels"]
    explicit = {**ZONE_SPREAD, "labelSelector": {"matchLabels": {"team": "shop"}}}
    web = pod_templates(
        render(make_stack(web={"placement": {"topologySpreadConstraints": [explicit]}}))
    )
    assert web[("Deployment", "shop-web")]["spec"]["topologySpreadConstraints"][0][
        "labelSelector"
    ] == {"matchLabels": {"team": "shop"}}


def test_affinity_is_passed_on_in_the_pod_apis_shape() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "cpus", "operator": "Gt", "values": ["3"]}]}
                ]
            }
        },
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 50,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "shop"}},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        },
    }
    web = pod_templates(render(make_stack(web={"placement": {"affinity": affinity}})))
    rendered = web[("Deployment", "shop-web")]["spec"]["affinity"]
    assert rendered["nodeAffinity"] == affinity["nodeAffinity"]
    term = rendered["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["weight"] == 50
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == {
        "app.kubernetes.io/instance": "shop"
    }


@pytest.mark.parametrize(
    "label",
    ["app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
     "app.kubernetes.io/version", "djangostack.io/worker-pool"],
)  # fmt: skip
def test_pod_labels_cannot_take_the_operators_own(label: str) -> None:
    with pytest.raises(InvalidStackError) as error:
        make_stack(placement={"podLabels": {label: "x"}})
    assert "spec.placement.podLabels" in str(error.value)


@pytest.mark.parametrize(
    ("pool", "budget"),
    [
        ({"replicas": 3, "pdb": {"enabled": True}}, 1),
        ({"replicas": 4, "pdb": {"enabled": True, "maxUnavailable": 2}}, 2),
        ({"replicas": 1, "pdb": {"enabled": True}}, None),
        ({"replicas": 3}, None),
    ],
)
def test_worker_pool_budget_only_when_asked_and_unable_to_block_drains(
    pool: dict[str, Any], budget: int | None
) -> None:
    pdbs = django.worker_pdbs(make_stack(workers=[{"name": "mail", **pool}]))
    if budget is None:
        assert pdbs == []
        return
    [pdb] = pdbs
    assert pdb["metadata"]["name"] == "shop-worker-mail"
    assert pdb["spec"]["maxUnavailable"] == budget
    assert pdb["spec"]["selector"]["matchLabels"]["djangostack.io/worker-pool"] == "mail"
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_every_budget_lets_unhealthy_pods_go() -> None:
    stack = make_stack(
        web={"replicas": 3}, workers=[{"name": "mail", "replicas": 2, "pdb": {"enabled": True}}]
    )
    budgets = [obj for obj in render(stack) if obj["kind"] == "PodDisruptionBudget"]
    assert len(budgets) == 2
    assert {pdb["spec"]["unhealthyPodEvictionPolicy"] for pdb in budgets} == {"AlwaysAllow"}


def test_worker_liveness_pings_the_pods_own_worker() -> None:
    stack = make_stack(
        workers=[{"name": "mail", "liveness": {"periodSeconds": 30, "timeoutSeconds": 10}}]
    )
    [worker] = django.worker_deployments(stack, RenderContext())
    container = worker["spec"]["template"]["spec"]["containers"][0]
    probe = container["livenessProbe"]
    command = probe["exec"]["command"]
    assert command[:2] == ["python", "-c"]
    # The app, the pool (its node is <pool>@<hostname>, as the worker command names it) and
    # half the probe's timeout for the answer.
    assert command[3:] == ["config", "mail", "5"]
    assert "--hostname=mail@%h" in container["command"]
    assert (probe["periodSeconds"], probe["timeoutSeconds"], probe["failureThreshold"]) == (
        30,
        10,
        3,
    )


@pytest.mark.parametrize(
    "pool",
    [{"liveness": {"enabled": False}}, {"command": ["celery", "--app=config", "worker"]}],
)
def test_no_worker_liveness_when_off_or_the_command_is_the_users(pool: dict[str, Any]) -> None:
    [worker] = django.worker_deployments(
        make_stack(workers=[{"name": "mail", **pool}]), RenderContext()
    )
    assert "livenessProbe" not in worker["spec"]["template"]["spec"]["containers"][0]
