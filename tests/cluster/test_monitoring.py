"""Monitoring a platform team can switch on: the chart's alerting rules, judged by
Prometheus' own `promtool test rules` (tests/monitoring/alerts.test.yaml); its Grafana
dashboard, whose every query reads metrics the operator exports; and the app's PodMonitor,
made by the operator against prometheus-operator's real CRD, and reported where it is
missing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, dynamic
from prometheus_client import REGISTRY

from djangostack_devcluster import tools
from djangostack_devcluster.cluster import LocalCluster
from djangostack_operator import metrics  # noqa: F401 - registers the operator's metrics
from tests.cluster.conftest import installed_pod_monitor_crd
from tests.factories import REPO
from tests.kube_helpers import wait_for
from tests.stacks import Stacks

pytestmark = pytest.mark.cluster

CHART = REPO / "charts" / "djangostack-operator"
CASES = REPO / "tests" / "monitoring" / "alerts.test.yaml"


def rendered(local_cluster: LocalCluster, *values: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(local_cluster.tools.helm), "template", "dso", str(CHART), *values],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_the_alerting_rules_pass_promtool(local_cluster: LocalCluster, tmp_path: Path) -> None:
    (rule,) = [
        d
        for d in rendered(local_cluster, "--set", "metrics.prometheusRule.enabled=true")
        if d["kind"] == "PrometheusRule"
    ]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    shutil.copyfile(CASES, tmp_path / CASES.name)
    promtool = str(tools.ensure_promtool())
    checked = subprocess.run([promtool, "check", "rules", "rules.yaml"], cwd=tmp_path,
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", CASES.name], cwd=tmp_path,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # Every alert of the rule file has a case.
    alerts = {r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]}
    cases = yaml.safe_load(CASES.read_text())["tests"]
    tested_alerts = {t["alertname"] for case in cases for t in case["alert_rule_test"]}
    assert alerts == tested_alerts


def test_the_rules_follow_their_values(local_cluster: LocalCluster) -> None:
    values = [
        "--set", "metrics.prometheusRule.enabled=true",
        "--set", "metrics.prometheusRule.notReadyFor=1h",
        "--set", "metrics.prometheusRule.severity=critical",
        "--set", "metrics.prometheusRule.labels.release=kube-prometheus-stack",
    ]  # fmt: skip
    (rule,) = [d for d in rendered(local_cluster, *values) if d["kind"] == "PrometheusRule"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    rules = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert rules["DjangoStackNotReady"]["for"] == "1h"
    assert {r["labels"]["severity"] for r in rules.values()} == {"critical"}


def exported_metric_names() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        # Counters and histograms have their suffixed series only once observed.
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names.update(f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
    return names


METRIC = re.compile(r"\b((?:djangostack|controller_runtime|workqueue)_[a-z_]+)")


def test_the_dashboard_reads_only_metrics_the_operator_exports(local_cluster: LocalCluster) -> None:
    (config_map,) = [
        d
        for d in rendered(local_cluster, "--set", "metrics.dashboard.enabled=true")
        if d["kind"] == "ConfigMap"
    ]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["djangostack.json"])
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    queries += [v["query"]["query"] for v in dashboard["templating"]["list"] if "query" in v
                and isinstance(v["query"], dict)]  # fmt: skip
    used = {name for query in queries for name in METRIC.findall(query)}
    assert used, "the dashboard queries no operator metric"
    assert used <= exported_metric_names(), used - exported_metric_names()
    assert {"djangostack_stack_ready", "djangostack_stack_phase",
            "djangostack_stack_last_backup_timestamp_seconds"} <= used  # fmt: skip


def pod_monitors(api_client: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    listing = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        "monitoring.coreos.com", "v1", namespace, "podmonitors"
    )
    return list(listing["items"])


def test_a_pod_monitor_where_its_crd_is_missing_is_reported_not_fatal(
    api_client: client.ApiClient, solo_namespace: str, solo_operator: Any
) -> None:
    # The CRD existed once and a client discovered it (as the dry-run tests do): its
    # discovery cache, a file shared by every process here, still lists the kind.
    with installed_pod_monitor_crd(api_client):
        dynamic.DynamicClient(api_client).resources.get(
            api_version="monitoring.coreos.com/v1", kind="PodMonitor"
        )
    extensions = client.ApiextensionsV1Api(api_client)
    names = [crd.metadata.name for crd in extensions.list_custom_resource_definition().items]
    assert "podmonitors.monitoring.coreos.com" not in names
    solo_operator()
    stacks = Stacks(api_client, solo_namespace)
    stacks.create(monitoring={"podMonitor": True})
    stacks.wait_condition("MonitoringReady", "False")
    condition = stacks.condition("MonitoringReady")
    assert condition["reason"] == "KindNotServed"
    assert "install prometheus-operator's CRDs" in condition["message"]
    # The rest of the stack is made regardless, and it becomes Ready.
    stacks.wait_ready()
    assert stacks.condition("MonitoringReady")["reason"] == "KindNotServed"
    events = stacks.core.list_namespaced_event(
        solo_namespace, field_selector="involvedObject.kind=DjangoStack"
    ).items
    assert [e.type for e in events if e.reason == "KindNotServed"] == ["Warning"]


def test_the_pod_monitor_follows_the_spec_where_its_crd_is_installed(
    api_client: client.ApiClient, pod_monitor_crd: str, solo_namespace: str, solo_operator: Any
) -> None:
    solo_operator()
    stacks = Stacks(api_client, solo_namespace)
    stacks.create(monitoring={"podMonitor": True, "interval": "15s",
                              "labels": {"release": "kube-prometheus-stack"}})  # fmt: skip
    stacks.wait_ready()
    assert stacks.condition("MonitoringReady")["reason"] == "Available"
    (monitor,) = pod_monitors(api_client, solo_namespace)
    assert monitor["metadata"]["name"] == "shop-web"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"], endpoint["interval"]) == (
        "metrics",
        "/metrics",
        "15s",
    )
    web = stacks.apps.read_namespaced_deployment("shop-web", solo_namespace)
    template_labels = web.spec.template.metadata.labels
    assert monitor["spec"]["selector"]["matchLabels"].items() <= template_labels.items()
    assert "metrics" in {p.name for p in web.spec.template.spec.containers[0].ports}

    stacks.patch_spec({"monitoring": {"podMonitor": False}})
    wait_for("the PodMonitor to be pruned", lambda: not pod_monitors(api_client, solo_namespace))
    wait_for(
        "MonitoringReady to say Disabled",
        lambda: stacks.condition("MonitoringReady").get("reason") == "Disabled",
    )
