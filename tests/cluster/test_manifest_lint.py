"""kubeconform -strict with the schemas made offline (kubeschemas.py), as `make lint` runs it:
every shipped and rendered manifest passes, and the schemas refuse what the API refuses."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from djangostack_devcluster import kubeschemas, manifestlint, tools
from djangostack_operator.render import render
from tests.factories import REPO, make_stack, stack_object

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kubeschemas.write_schemas(tmp_path_factory.mktemp("schemas"), manifestlint.all_schemas())


def kubeconform(schemas: Path, tmp_path: Path, objects: list[dict[str, Any]]) -> str:
    """kubeconform's verdict on `objects` ("" when every one is valid)."""
    manifest = tmp_path / "objects.yaml"
    manifest.write_text(yaml.safe_dump_all(objects))
    result = subprocess.run(
        [str(tools.ensure_kubeconform()), "-strict", "-output", "text",
         "-schema-location", f"{schemas}/{kubeschemas.LOCATION_TEMPLATE}", str(manifest)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    return "" if result.returncode == 0 else result.stdout + result.stderr


def test_every_manifest_the_project_ships_or_renders_is_valid() -> None:
    lines = manifestlint.validate_manifests(tools.ensure_helm(), tools.ensure_kubeconform())
    names = [line.split("(", 1)[1].split("):")[0] for line in lines]
    assert "children of samples/production.yaml" in names
    assert "chart (monitoring)" in names
    assert all("Invalid: 0, Errors: 0" in line for line in lines), lines


def test_a_stack_with_placement_and_monitoring_renders_children_the_schemas_accept(
    schemas: Path, tmp_path: Path
) -> None:
    placement = {
        "nodeSelector": {"pool": "apps"},
        "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 30}],
        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "shop"}},
             "topologyKey": "kubernetes.io/hostname"}]}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "DoNotSchedule", "minDomains": 2}],
        "priorityClassName": "shop-high",
        "serviceAccountName": "shop",
        "podLabels": {"team": "shop"},
    }  # fmt: skip
    stack = make_stack(
        placement=placement,
        workers=[{"name": "default", "replicas": 3, "pdb": {"enabled": True}}],
        web={"replicas": 3},
        monitoring={"podMonitor": True, "labels": {"release": "kube-prometheus-stack"}},
    )
    children = render(stack)
    assert "PodMonitor" in {obj["kind"] for obj in children}
    assert kubeconform(schemas, tmp_path, children) == ""
    assert kubeconform(schemas, tmp_path, [stack_object(placement=placement)]) == ""


def test_the_schemas_refuse_an_unknown_field_and_a_wrong_type(
    schemas: Path, tmp_path: Path
) -> None:
    [deployment] = [
        o
        for o in render(make_stack())
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "shop-web"
    ]
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    assert "imagePullPolcy" in kubeconform(schemas, tmp_path, [deployment])
    stack = stack_object()
    stack["spec"]["web"] = {"replicas": "two"}
    assert "replicas" in kubeconform(schemas, tmp_path, [stack])


def test_kube_score_passes_the_renders_and_the_chart_with_only_the_documented_opinions_off() -> (
    None
):
    lines = manifestlint.score_manifests(tools.ensure_helm(), tools.ensure_kube_score())
    assert "kube-score (children of samples/production.yaml): ok" in lines
    assert "kube-score (chart (defaults)): ok" in lines
    documented = (REPO / "docs" / "operator.md").read_text()
    for test in (*manifestlint.KUBE_SCORE_IGNORED, *manifestlint.KUBE_SCORE_IGNORED_CHART):
        assert f"`{test}`" in documented, test


def test_kube_score_fails_a_render_that_loses_what_it_checks() -> None:
    children = render(make_stack(workers=[{"name": "default", "replicas": 2}]))
    for obj in children:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "shop-worker-default":
            del obj["spec"]["template"]["spec"]["containers"][0]["resources"]
    with pytest.raises(manifestlint.LintError) as error:
        manifestlint.score(
            tools.ensure_kube_score(), yaml.safe_dump_all(children), manifestlint.KUBE_SCORE_IGNORED
        )
    assert "shop-worker-default" in str(error.value) and "Memory limit is not set" in str(
        error.value
    )
