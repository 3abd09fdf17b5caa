"""`djangostack render` and `djangostack crd`: output, exit codes, error messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from djangostack_operator import cli
from tests.factories import REPO, SAMPLES

DJANGOSTACK = Path(sys.executable).parent / "djangostack"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DJANGOSTACK), *args], input=stdin, capture_output=True, text=True, check=False
    )


def test_render_production_sample_prints_every_object_kind() -> None:
    result = run("render", str(SAMPLES / "production.yaml"))
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    assert {d["kind"] for d in documents} == {
        "Service",
        "StatefulSet",
        "NetworkPolicy",
        "Job",
        "Deployment",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Ingress",
        "ConfigMap",
        "PersistentVolumeClaim",
        "CronJob",
        "PodMonitor",
    }
    assert all(d["metadata"]["namespace"] == "shop-production" for d in documents)


def test_render_several_files_and_stdin(capsys: pytest.CaptureFixture[str]) -> None:
    minimal = (SAMPLES / "minimal.yaml").read_text()
    assert run("render", "-", stdin=minimal).returncode == 0
    assert (
        cli.main(["render", str(SAMPLES / "minimal.yaml"), str(SAMPLES / "production.yaml")]) == 0
    )
    namespaces = {d["metadata"]["namespace"] for d in yaml.safe_load_all(capsys.readouterr().out)}
    assert namespaces == {"default", "shop-production"}


def test_invalid_input_exits_2_naming_each_field_without_traceback() -> None:
    bad = """
apiVersion: djangostack.io/v1alpha1
kind: DjangoStack
metadata: {name: shop}
spec:
  image: shop:latest
  web: {replicas: -1}
"""
    result = run("render", "-", stdin=bad)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "-: spec.image: must be pinned to a tag other than latest, or to a digest",
        "-: spec.web.replicas: must be >= 0",
    ]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("spec: [unclosed", "not valid YAML"),
        ("", "no DjangoStack in the file"),
        ("- a\n- b\n", "must be a DjangoStack object"),
    ],
)
def test_unusable_files_exit_2(content: str, message: str) -> None:
    result = run("render", "-", stdin=content)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = run("render", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_crd_command_prints_the_committed_crd() -> None:
    result = run("crd")
    assert result.returncode == 0
    assert result.stdout == (REPO / "crds" / "djangostacks.yaml").read_text()


def test_version_is_the_package_version() -> None:
    from importlib.metadata import version  # noqa: PLC0415

    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.split() == ["djangostack", version("djangostack-operator")]


@pytest.mark.parametrize("command", sorted(cli.SUMMARIES))
def test_every_subcommand_help_says_what_it_does_with_an_example(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0
    summary = cli.SUMMARIES[command][1:]
    assert summary in " ".join(result.stdout.split())
    examples = result.stdout.split("examples:\n", 1)[1]
    assert f"djangostack {command}" in examples


@pytest.mark.parametrize(
    "kubeconfig",
    [None, "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n", "{not: [yaml"],
    ids=["no-file", "no-context", "garbage"],
)
def test_run_without_credentials_exits_1_with_one_line(
    tmp_path: Path, kubeconfig: str | None
) -> None:
    path = tmp_path / "kubeconfig"
    if kubeconfig is not None:
        path.write_text(kubeconfig)
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(path)}
    result = subprocess.run(
        [str(DJANGOSTACK), "run"],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
        timeout=60,
    )
    assert result.returncode == cli.EXIT_NO_CLUSTER
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("djangostack run: no usable Kubernetes credentials")
    assert str(path) in lines[0]
