"""`make lint`'s checks of what the project ships for clusters: the Helm chart, linted
strictly with each kind of values a platform sets (helm's own `lint --strict`); the alerting
rules it renders (`promtool check rules`); and every manifest the project ships or the
operator renders, validated by kubeconform -strict against the Kubernetes release's own
schemas, the DjangoStack CRD and prometheus-operator's CRDs (kubeschemas.py); and kube-score
on what the operator renders and on the chart (kube-linter cannot be fetched here)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from djangostack_devcluster import kubeschemas, tools
from djangostack_operator.crd import build_crd
from djangostack_operator.render import render
from djangostack_operator.validation import parse_stack

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


SAMPLES = tools.REPO_ROOT / "manifests" / "samples"
INSTALL_MANIFEST = tools.REPO_ROOT / "manifests" / "install.yaml"


def manifests(helm: Path) -> dict[str, str]:
    """Every manifest to validate, by what it is: the chart with each value set (CRDs
    included), the install manifest, the samples, and what the operator renders for them."""
    found = {
        f"chart ({name})": _run(
            [str(helm), "template", "lint", str(CHART), "--include-crds", *values]
        )
        for name, values in VALUE_SETS.items()
    }
    found["manifests/install.yaml"] = INSTALL_MANIFEST.read_text()
    for sample in sorted(SAMPLES.glob("*.yaml")):
        documents = [d for d in yaml.safe_load_all(sample.read_text()) if d]
        found[f"samples/{sample.name}"] = sample.read_text()
        children = [obj for document in documents for obj in render(parse_stack(document))]
        found[f"children of samples/{sample.name}"] = yaml.safe_dump_all(children)
    return found


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every kind's schema: Kubernetes' own, the DjangoStack CRD's, prometheus-operator's."""
    openapi = json.loads(tools.kubernetes_openapi().read_text())
    crds = [build_crd(), *(yaml.safe_load(p.read_text()) for p in tools.ensure_monitoring_crds())]
    return {**kubeschemas.builtin_schemas(openapi), **kubeschemas.crd_schemas(crds)}


def validate_manifests(helm: Path, kubeconform: Path) -> list[str]:
    """kubeconform -strict on `manifests()`; returns one line per manifest that passed."""
    schemas = all_schemas()
    passed = []
    with tempfile.TemporaryDirectory() as folder:
        location = kubeschemas.write_schemas(Path(folder) / "schemas", schemas)
        for name, text in manifests(helm).items():
            path = Path(folder) / "manifest.yaml"
            path.write_text(text)
            report = _run([
                str(kubeconform), "-strict", "-summary", "-output", "text",
                "-schema-location", f"{location}/{kubeschemas.LOCATION_TEMPLATE}", str(path),
            ])  # fmt: skip
            passed.append(f"kubeconform -strict ({name}): {report.strip().splitlines()[-1]}")
    return passed


# kube-score's opinions the project does not follow, each for a reason (docs/operator.md,
# "What the linters say"). Everything else it checks must pass, warnings included.
KUBE_SCORE_IGNORED = (
    # Scratch space is the /tmp emptyDir with a sizeLimit; root filesystems are read-only.
    "container-ephemeral-storage-request-and-limit",
    # PostgreSQL and Redis run as their images' own user (999), which owns their data.
    "container-security-context-user-group-id",
    # Images are pinned to a tag or digest (the API refuses others): IfNotPresent is enough.
    "container-image-pull-policy",
    # The policies of Job pods (backup, restore, manage) exist before those pods do.
    "networkpolicy-targets-pod",
    # PostgreSQL's and Redis' probes ask the same question, at different periods and limits.
    "pod-probes-identical",
    # Web and worker pods spread over nodes with a topology spread constraint instead.
    "deployment-has-host-podantiaffinity",
    "statefulset-has-host-podantiaffinity",
)
# For the operator's own pod (the chart) besides: a budget for one replica would block every
# drain, and a NetworkPolicy would need the API server's address, which each cluster has its own.
KUBE_SCORE_IGNORED_CHART = ("deployment-has-poddisruptionbudget", "pod-networkpolicy")


def score(kube_score: Path, text: str, ignored: tuple[str, ...]) -> str:
    """kube-score on `text`; raises LintError with its findings."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "manifest.yaml"
        path.write_text(text)
        flags = [flag for test in ignored for flag in ("--ignore-test", test)]
        return _run([
            str(kube_score), "score", "--output-format", "ci", "--exit-one-on-warning",
            "--ignore-container-cpu-limit", *flags, str(path),
        ])  # fmt: skip


def score_manifests(helm: Path, kube_score: Path) -> list[str]:
    """kube-score on what the operator renders for the samples and on the chart."""
    passed = []
    for name, text in manifests(helm).items():
        if name.startswith("children of "):
            score(kube_score, text, KUBE_SCORE_IGNORED)
        elif name.startswith("chart ("):
            score(kube_score, text, KUBE_SCORE_IGNORED + KUBE_SCORE_IGNORED_CHART)
        else:
            continue
        passed.append(f"kube-score ({name}): ok")
    return passed


def lint_all() -> list[str]:
    toolset = tools.ensure_all()
    return (
        lint_chart(toolset.helm)
        + check_rules(toolset.helm, tools.ensure_promtool())
        + validate_manifests(toolset.helm, tools.ensure_kubeconform())
        + score_manifests(toolset.helm, tools.ensure_kube_score())
    )
