"""`kubectl djangostack`: what it prints from API objects, how it reads its command line, and
the one-off command Job it starts (the cluster behaviour is in tests/cluster/test_end_to_end)."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from djangostack_operator import vocabulary as keys
from djangostack_operator.plugin import main, views
from djangostack_operator.render import RenderContext, django, render
from djangostack_operator.render.meta import RELEASE_IMAGE
from djangostack_operator.render.pod import Release
from tests.factories import make_stack, stack_object
from tests.phases import phase_cases


def stack_with_status(phase: str) -> dict[str, Any]:
    [case] = [c for c in phase_cases() if c.name == phase]
    document = stack_object()
    document["metadata"]["generation"] = 1
    document["status"] = case.status_object()
    return document


def test_status_lists_phase_release_conditions_and_pods_per_tier() -> None:
    document = stack_with_status("ready")
    pods = [
        views.PodLine("shop-web-a", "web", "Running", True, 0),
        views.PodLine("shop-web-b", "web", "Running", False, 2),
        views.PodLine("shop-worker-default-c", "worker/default", "Running", True, 0),
        views.PodLine("shop-postgres-0", "postgres", "Running", True, 0),
    ]
    text = views.status_view(document, pods)
    lines = text.splitlines()
    assert lines[0] == "shop in shop-ns: Ready"
    assert "URL:" in text and "https://shop.example.com" in text
    status = document["status"]
    assert f"{status['releasedImage']} (release {status['releaseHash']})" in text
    for condition in status["conditions"]:
        row = next(line for line in lines if line.startswith(condition["type"] + " "))
        assert condition["reason"] in row
    web = next(line for line in lines if line.startswith("web "))
    assert "2/2" in web
    assert "shop-web-a (Running)" in web and "shop-web-b (Running, not ready, 2 restarts)" in web
    header = next(index for index, line in enumerate(lines) if line.startswith("TIER"))
    tiers = [line.split()[0] for line in lines[header + 1 :]]
    assert tiers == ["web", "worker/default", "beat", "postgres", "redis"]


def test_status_says_when_the_operator_has_not_seen_the_spec_yet() -> None:
    document = stack_with_status("ready")
    document["metadata"]["generation"] = 2
    assert "has not yet seen the latest spec" in views.status_view(document, [])
    document["status"] = {}
    assert views.status_view(document, []).splitlines()[0] == "shop in shop-ns: (no status yet)"


def test_table_pads_columns_to_the_widest_cell() -> None:
    assert views.table(["A", "BB"], [["xxx", "y"], ["z", ""]]).splitlines() == [
        "A     BB",
        "xxx   y",
        "z",
    ]


def test_releases_newest_first_with_the_serving_one_marked() -> None:
    revisions = [
        views.Revision(1, "shop:1.0", "2026-12-01T10:00:00Z", 0),
        views.Revision(3, "shop:1.2", "2026-12-03T10:00:00Z", 2),
        views.Revision(2, "shop:1.1", "2026-12-02T10:00:00Z", 0),
    ]
    job = {
        "metadata": {"name": "shop-migrate-abc", "annotations": {RELEASE_IMAGE: "shop:1.2"}},
        "status": {"startTime": "2026-12-03T09:59:00Z",
                   "conditions": [{"type": "Complete", "status": "True"}]},
    }  # fmt: skip
    lines = views.releases_view(revisions, [job]).splitlines()
    assert [line.split()[0] for line in lines[1:4]] == ["3", "2", "1"]
    assert lines[1].split()[-1] == "serving" and "serving" not in lines[2] + lines[3]
    assert lines[-1].split() == [
        "shop-migrate-abc",
        "shop:1.2",
        "2026-12-03T09:59:00Z",
        "succeeded",
    ]


def test_backup_summary_reads_the_scripts_termination_message() -> None:
    message = "name=backup-20261203T030000.1Z.sql.gz sizeBytes=4242"
    assert views.backup_summary(message) == {
        "name": "backup-20261203T030000.1Z.sql.gz",
        "sizeBytes": "4242",
    }
    assert views.backup_summary("") == {}


@pytest.mark.parametrize(
    "argv",
    [
        ["-n", "shop", "manage", "web", "--", "migrate", "-n", "--help"],
        ["manage", "web", "-n", "shop", "--", "migrate", "-n", "--help"],
    ],
)
def test_options_go_before_or_after_the_command_and_after_dashes_are_managepys(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def run(session: Any, name: str, arguments: list[str]) -> int:
        seen.update(namespace=session.namespace, name=name, arguments=arguments)
        return 7

    monkeypatch.setattr(main, "connect", lambda kubeconfig, context: (None, "default"))
    monkeypatch.setattr(
        main, "Session", lambda client, namespace, timeout: SimpleNamespace(namespace=namespace)
    )
    monkeypatch.setattr(main, "cmd_manage", run)
    assert main.main(argv) == 7
    assert seen == {"namespace": "shop", "name": "web", "arguments": ["migrate", "-n", "--help"]}


def test_every_command_has_help_with_an_example() -> None:
    for command in main.SUMMARIES:
        shown = subprocess.run(
            [sys.executable, "-m", "djangostack_operator.plugin.main", command, "--help"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert main.EXAMPLES[command] in shown


def test_without_a_kubeconfig_it_exits_1_with_one_line(tmp_path: Any) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "djangostack_operator.plugin.main", "status", "shop",
         "--kubeconfig", str(tmp_path / "missing")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("kubectl djangostack: no usable kubeconfig")


def test_the_one_off_job_runs_the_serving_release_and_is_not_the_operators() -> None:
    stack = make_stack(image="registry.example.com/shop:2.0.0")
    serving = Release("registry.example.com/shop:1.0.0", "aaaaaaaaaa")
    job = django.manage_job(
        stack, RenderContext(release=serving), "shop-manage-1", ["showmigrations"],
        managed_by=keys.PLUGIN, deadline_seconds=300,
    )  # fmt: skip
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == serving.image
    assert container["command"] == ["python", "manage.py", "showmigrations"]
    web = django.web_deployment(stack, RenderContext(release=serving))
    assert container["env"] == web["spec"]["template"]["spec"]["containers"][0]["env"]
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 300
    # The operator's watches select managed-by=djangostack-operator: it never prunes this Job.
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert labels[keys.MANAGED_BY] == keys.PLUGIN
        assert labels[keys.COMPONENT] == django.MANAGE
    [owner] = job["metadata"]["ownerReferences"]
    assert owner["name"] == "shop" and owner["controller"] is False


def test_network_policies_let_one_off_commands_reach_the_data_services() -> None:
    policies = {
        obj["metadata"]["name"]: obj
        for obj in render(make_stack())
        if obj["kind"] == "NetworkPolicy"
    }
    assert "shop-manage" in policies
    for service in ("shop-postgres", "shop-redis"):
        [rule] = policies[service]["spec"]["ingress"]
        [expression] = rule["from"][0]["podSelector"]["matchExpressions"]
        assert django.MANAGE in expression["values"], service
