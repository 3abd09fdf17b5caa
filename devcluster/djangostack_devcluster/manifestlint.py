"""`make lint`'s checks of what the project ships for clusters: the Helm chart, linted
strictly with each kind of values a platform sets (helm's own `lint --strict`), and the
alerting rules it renders (`promtool check rules`)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import yaml

from djangostack_devcluster import tools

CHART = tools.REPO_ROOT / "charts" / "djangostack-operator"
# The value sets that change which objects the chart renders.
VALUE_SETS: dict[str, list[str]] = {
    "defaults": [],
    "namespaced": ["--set", "watchNamespaces={shop,blog}"],
    "monitoring": [
        "--set", "metrics.serviceMonitor.enabled=true",
        "--set", "metrics.serviceMonitor.labels.release=kube-prometheus-stack",
        "--set", "metrics.prometheusRule.enabled=true",
        "--set", "metrics.dashboard.enabled=true",
    ],
    "existing-account": [
        "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=platform",
    ],
}  # fmt: skip


class LintError(RuntimeError):
    """A linter found problems; the message holds its report."""


def _run(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        raise LintError(f"{' '.join(argv)}\n{result.stdout}{result.stderr}")
    return result.stdout


def lint_chart(helm: Path) -> list[str]:
    """`helm lint --strict` per value set; returns one line per set that passed."""
    passed = []
    for name, values in VALUE_SETS.items():
        _run([str(helm), "lint", "--strict", str(CHART), *values])
        passed.append(f"helm lint --strict ({name}): ok")
    return passed


def check_rules(helm: Path, promtool: Path) -> list[str]:
    """`promtool check rules` on the PrometheusRule the chart renders."""
    rendered = _run([str(helm), "template", "lint", str(CHART), *VALUE_SETS["monitoring"]])
    groups = [
        group
        for document in yaml.safe_load_all(rendered)
        if document and document["kind"] == "PrometheusRule"
        for group in document["spec"]["groups"]
    ]
    if not groups:
        raise LintError("the chart rendered no PrometheusRule with metrics.prometheusRule.enabled")
    with tempfile.TemporaryDirectory() as folder:
        rules = Path(folder) / "rules.yaml"
        rules.write_text(yaml.safe_dump({"groups": groups}))
        _run([str(promtool), "check", "rules", str(rules)])
    return [f"promtool check rules ({sum(len(g['rules']) for g in groups)} rules): ok"]


def lint_all() -> list[str]:
    toolset = tools.ensure_all()
    return lint_chart(toolset.helm) + check_rules(toolset.helm, tools.ensure_promtool())
