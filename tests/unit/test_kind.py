"""kind-config.yaml and scripts/kind-demo.sh, checked statically (they need Docker)."""

from __future__ import annotations

import re
import shutil
import subprocess

import yaml

from djangostack_devcluster import tools
from tests.dockerfile import STAGES
from tests.factories import REPO, sample
from tests.infrastructure import missing_infrastructure

CONFIG = REPO / "kind-config.yaml"
SCRIPT = REPO / "scripts" / "kind-demo.sh"


def script_variable(name: str) -> str:
    """The value assigned to `name` in the script (a `${NAME:-default}` gives the default)."""
    match = re.search(rf"^{name}=(\S+)", SCRIPT.read_text(), re.M)
    assert match, f"{name} is set in {SCRIPT.name}"
    value = match.group(1)
    default = re.fullmatch(rf"\$\{{{name}:-(.*)\}}", value)
    return default.group(1) if default else value


def expand(value: str) -> str:
    return value.replace("${VERSION}", script_variable("VERSION"))


def test_config_is_an_ingress_ready_kind_cluster() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    assert config["name"] == script_variable("CLUSTER")
    (node,) = config["nodes"]
    assert node["role"] == "control-plane"
    patches = [yaml.safe_load(patch) for patch in node["kubeadmConfigPatches"]]
    labels = patches[0]["nodeRegistration"]["kubeletExtraArgs"]["node-labels"]
    assert "ingress-ready=true" in labels
    ports = {(m["containerPort"], m["hostPort"]) for m in node["extraPortMappings"]}
    assert ports == {(80, 80), (443, 443)}


def test_node_image_runs_the_kubernetes_minor_tested_here() -> None:
    node = yaml.safe_load(CONFIG.read_text())["nodes"][0]
    match = re.fullmatch(r"kindest/node:v(\d+\.\d+)\.\d+", node["image"])
    assert match, node["image"]
    assert tools.KUBERNETES_VERSION.startswith(f"v{match.group(1)}.")


def test_script_builds_the_images_the_chart_and_the_sample_use() -> None:
    text = SCRIPT.read_text()
    for target in re.findall(r"docker build --target (\S+)", text):
        assert target in STAGES
    assert set(re.findall(r"docker build --target (\S+)", text)) == {"app", "operator"}

    values = yaml.safe_load((REPO / "charts/djangostack-operator/values.yaml").read_text())
    operator_image = expand(script_variable("OPERATOR_IMAGE"))
    assert operator_image.rsplit(":", 1)[0] == values["image"]["repository"]

    minimal = sample("minimal")
    assert expand(script_variable("APP_IMAGE")) == minimal["spec"]["image"]
    assert REPO / script_variable("SAMPLE") == REPO / "manifests/samples/minimal.yaml"
    assert script_variable("HOST") == minimal["spec"]["ingress"]["host"]
    assert f"djangostack/{minimal['metadata']['name']}" in text


def test_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_every_shell_script_is_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        missing_infrastructure("shellcheck (Debian package shellcheck)")
    listed = subprocess.run(
        ["git", "ls-files", "*.sh", ".ci/run"], cwd=REPO, capture_output=True, text=True,
        check=True,
    ).stdout.split()  # fmt: skip
    scripts = sorted({*listed, "scripts/kind-demo.sh"})
    result = subprocess.run(
        ["shellcheck", *scripts], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout
