"""The Helm chart: lint, server-side validation, install, the operator running with exactly
the chart's permissions (its ServiceAccount's token), which deny what it must not do, and the
chart's operator pod (the image built from the Dockerfile) on the real node."""

from __future__ import annotations

import os
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from djangostack_devcluster import images, topology
from djangostack_devcluster.cluster import LocalCluster
from tests.factories import REPO
from tests.kube_helpers import namespace_body, wait_for
from tests.operator_process import OperatorProcess
from tests.stacks import Stacks

CHART = REPO / "charts" / "djangostack-operator"


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)


@pytest.fixture(scope="module")
def helm(local_cluster: LocalCluster) -> list[str]:
    return [str(local_cluster.tools.helm), f"--kubeconfig={local_cluster.kubeconfig}"]


@pytest.mark.parametrize("values", [[], ["--set", "watchNamespaces={shop,blog}"]])
def test_helm_lint_is_clean(helm: list[str], values: list[str]) -> None:
    result = run([*helm, "lint", "--strict", str(CHART), *values])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_values_schema_rejects_bad_values(helm: list[str]) -> None:
    result = run([*helm, "template", "x", str(CHART), "--set", "logFormat=xml"])
    assert result.returncode != 0
    assert "logFormat" in result.stderr


def template(helm: list[str], *values: str) -> list[dict[str, Any]]:
    """`helm template` with no cluster to ask: the chart's kubeVersion (>= 1.30) must pass
    with the Kubernetes version the helm binary assumes offline."""
    rendered = run([helm[0], "template", "dso", str(CHART), *values])
    assert rendered.returncode == 0, rendered.stderr
    return [d for d in yaml.safe_load_all(rendered.stdout) if d]


def operator_args(helm: list[str], *values: str) -> list[str]:
    (deployment,) = [d for d in template(helm, *values) if d["kind"] == "Deployment"]
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def test_helm_template_works_offline_for_the_charts_kubernetes_versions(helm: list[str]) -> None:
    # Without the Kubernetes version helm's own build sets, it assumes 1.20 and refuses.
    assert {d["kind"] for d in template(helm)} >= {"Deployment", "ServiceAccount", "ClusterRole"}


def test_the_chart_installs_anywhere_values_reach_the_objects(helm: list[str]) -> None:
    objects = template(
        helm,
        "--set", "fullnameOverride=ops",
        "--set", "commonLabels.team=platform",
        "--set", "podLabels.tier=control",
        "--set", "podAnnotations.scrape=yes",
        "--set", "priorityClassName=system-cluster-critical",
        "--set", "serviceAccount.annotations.iam\\.example/role=operator",
        "--set", "nodeSelector.pool=system",
        "--set", "tolerations[0].key=dedicated,tolerations[0].operator=Exists",
        "--set", "podSecurityContext.runAsUser=1234,podSecurityContext.runAsNonRoot=true",
        "--set", "securityContext.readOnlyRootFilesystem=true",
        "--set", "resources.limits.memory=1Gi",
        "--set", "metrics.serviceMonitor.enabled=true",
        "--set", "metrics.serviceMonitor.labels.release=kube-prometheus-stack",
    )  # fmt: skip
    by_kind = {d["kind"]: d for d in objects}
    assert all(d["metadata"]["name"].startswith("ops") for d in objects)
    assert all(d["metadata"]["labels"]["team"] == "platform" for d in objects)
    pod = by_kind["Deployment"]["spec"]["template"]
    assert pod["metadata"]["labels"]["tier"] == "control"
    assert pod["metadata"]["annotations"] == {"scrape": "yes"}
    spec = pod["spec"]
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["nodeSelector"] == {"pool": "system"}
    assert spec["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert spec["securityContext"] == {
        "runAsUser": 1234, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}
    }  # fmt: skip
    assert spec["containers"][0]["resources"]["limits"] == {"memory": "1Gi"}
    assert spec["serviceAccountName"] == "ops"
    assert by_kind["ServiceAccount"]["metadata"]["annotations"] == {"iam.example/role": "operator"}
    assert by_kind["ServiceMonitor"]["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_an_existing_service_account_is_bound_instead_of_one_of_the_charts(
    helm: list[str],
) -> None:
    objects = template(helm, "--set", "serviceAccount.create=false",
                       "--set", "serviceAccount.name=platform-operator")  # fmt: skip
    assert "ServiceAccount" not in {d["kind"] for d in objects}
    subjects = [s for d in objects if d["kind"].endswith("Binding") for s in d["subjects"]]
    assert subjects and {s["name"] for s in subjects} == {"platform-operator"}
    (deployment,) = [d for d in objects if d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "platform-operator"
    missing = run([helm[0], "template", "x", str(CHART), "--set", "serviceAccount.create=false"])
    assert missing.returncode != 0 and "serviceAccount.name is required" in missing.stderr


def test_the_ingress_annotation_allow_list_reaches_the_operator(helm: list[str]) -> None:
    # Empty (the default): the operator's own list, defined once in policy.py.
    assert not [a for a in operator_args(helm) if a.startswith("--allow-ingress-annotation")]
    args = operator_args(helm, "--set", "ingressAnnotationAllowList={a.example/,*}")
    assert [a for a in args if a.startswith("--allow-ingress-annotation")] == [
        "--allow-ingress-annotation=a.example/", "--allow-ingress-annotation=*",
    ]  # fmt: skip
    refused = run([*helm, "template", "x", str(CHART),
                   "--set", "ingressAnnotationAllowList={a b}"])  # fmt: skip
    assert refused.returncode != 0 and "ingressAnnotationAllowList" in refused.stderr


def test_chart_and_manifests_carry_the_generated_crd(helm: list[str]) -> None:
    generated = (REPO / "crds" / "djangostacks.yaml").read_text()
    assert (CHART / "crds" / "djangostacks.yaml").read_text() == generated
    rendered = run(["bash", str(REPO / "scripts" / "render-install-manifest.sh")],
                   env={**os.environ, "HELM": helm[0]})  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    committed = (REPO / "manifests" / "install.yaml").read_text()
    assert rendered.stdout == committed, "run `make crd` to regenerate manifests/install.yaml"
    documents = [d for d in yaml.safe_load_all(committed) if d]
    (crd,) = [d for d in documents if d["kind"] == "CustomResourceDefinition"]
    assert crd == yaml.safe_load(generated)


@pytest.mark.parametrize("values", [[], ["--set", "watchNamespaces={default}"]])
def test_rendered_chart_is_accepted_by_server_side_dry_run(
    helm: list[str], local_cluster: LocalCluster, namespace: str, values: list[str]
) -> None:
    template = run([*helm, "template", "dso", str(CHART), "--namespace", namespace, *values])
    assert template.returncode == 0, template.stderr
    applied = run(
        [str(local_cluster.tools.kubectl), f"--kubeconfig={local_cluster.kubeconfig}",
         "apply", "--dry-run=server", "-f", "-"],
        input=template.stdout,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    assert "deployment.apps/dso-djangostack-operator created (server dry run)" in applied.stdout


def service_account_kubeconfig(
    core: client.CoreV1Api, admin: Path, namespace: str, account: str, path: Path
) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount, with a token from TokenRequest."""
    request = core.create_namespaced_service_account_token(
        account, namespace, {"spec": {"expirationSeconds": 3600}}
    )
    base = yaml.safe_load(admin.read_text())
    base["users"] = [{"name": account, "user": {"token": request.status.token}}]
    base["contexts"][0]["context"]["user"] = account
    path.write_text(yaml.safe_dump(base))
    return path


RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
DENIED = {"get": 403, "list": 403, "watch": 403}
BY_NAME_ONLY = {"get": 404, "list": 403, "watch": 403}  # 404: allowed, no such Secret


def secret_access(api: client.CoreV1Api, namespace: str | None) -> dict[str, int]:
    """The API server's answer to a get (of a Secret that does not exist), a list and a
    watch of Secrets in `namespace` (None: cluster-wide); 200 where it allowed them."""
    name = f"absent-{uuid.uuid4().hex[:6]}"
    attempts = {
        "get": lambda: api.read_namespaced_secret(name, namespace or "default"),
        "list": lambda: (
            api.list_namespaced_secret(namespace, limit=1)
            if namespace
            else api.list_secret_for_all_namespaces(limit=1)
        ),
        "watch": lambda: (
            api.list_namespaced_secret(namespace, watch=True, timeout_seconds=1)
            if namespace
            else api.list_secret_for_all_namespaces(watch=True, timeout_seconds=1)
        ),
    }
    answers = {}
    for verb, attempt in attempts.items():
        try:
            attempt()
            answers[verb] = 200
        except ApiException as error:
            answers[verb] = int(error.status)
    return answers


@pytest.mark.parametrize("mode", ["cluster", "namespaced"])
def test_the_charts_service_account_cannot_list_or_watch_secrets(
    helm: list[str],
    local_cluster: LocalCluster,
    core: client.CoreV1Api,
    release_namespace: str,
    namespace: str,
    mode: str,
    tmp_path: Path,
) -> None:
    """In both modes: get by name where it manages stacks, and no list or watch anywhere."""
    release = f"rbac-{uuid.uuid4().hex[:6]}"
    scope = ["--set", f"watchNamespaces={{{namespace}}}"] if mode == "namespaced" else []
    template = run([*helm, "template", release, str(CHART), "--namespace", release_namespace,
                    *scope])  # fmt: skip
    assert template.returncode == 0, template.stderr
    rbac = [d for d in yaml.safe_load_all(template.stdout) if d and d["kind"] in RBAC_KINDS]
    assert {d["kind"] for d in rbac} >= {"ServiceAccount", "Role"}
    kubectl = [str(local_cluster.tools.kubectl), f"--kubeconfig={local_cluster.kubeconfig}"]
    manifest = yaml.safe_dump_all(rbac)
    applied = run([*kubectl, "apply", "-f", "-"], input=manifest)
    assert applied.returncode == 0, applied.stderr
    try:
        kubeconfig = service_account_kubeconfig(
            core, local_cluster.kubeconfig, release_namespace,
            f"{release}-djangostack-operator", tmp_path / "operator.kubeconfig",
        )  # fmt: skip
        as_operator = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
        # The authorizer learns of new roles from its watch, a moment after they are made.
        wait_for(
            "the chart's roles to take effect",
            lambda: secret_access(as_operator, namespace)["get"] == BY_NAME_ONLY["get"],
        )
        assert secret_access(as_operator, namespace) == BY_NAME_ONLY
        # Cluster-wide (a get in default), and in the release's own namespace.
        elsewhere = BY_NAME_ONLY if mode == "cluster" else DENIED
        assert secret_access(as_operator, None) == elsewhere
        assert secret_access(as_operator, release_namespace) == elsewhere
    finally:
        run([*kubectl, "delete", "--ignore-not-found", "-f", "-"], input=manifest)


@pytest.fixture
def release_namespace(core: client.CoreV1Api) -> Iterator[str]:
    name = f"dso-{uuid.uuid4().hex[:6]}"
    core.create_namespace(namespace_body(name))
    yield name
    core.delete_namespace(name)


def test_operator_runs_with_exactly_the_charts_namespaced_permissions(
    helm: list[str],
    local_cluster: LocalCluster,
    core: client.CoreV1Api,
    api_client: client.ApiClient,
    solo_namespace: str,
    release_namespace: str,
    tmp_path: Path,
) -> None:
    installed = run([*helm, "install", "dso", str(CHART), "--namespace", release_namespace,
                     "--set", f"watchNamespaces={{{solo_namespace}}}", "--wait=false"])  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert "It manages DjangoStacks in: " + solo_namespace in installed.stdout
    kubeconfig = service_account_kubeconfig(
        core, local_cluster.kubeconfig, release_namespace, "dso-djangostack-operator",
        tmp_path / "operator.kubeconfig",
    )  # fmt: skip
    # As the chart runs it: under leader election, with the Lease in the release namespace.
    lease = ("--leader-elect", "--lease-name=dso-djangostack-operator",
             f"--lease-namespace={release_namespace}")  # fmt: skip
    operator = OperatorProcess(
        kubeconfig, tmp_path / "operator.log", [solo_namespace], extra_args=lease
    ).start()
    try:
        stacks = Stacks(api_client, solo_namespace)
        stacks.create()
        stacks.wait_ready(timeout=120)
        stacks.patch_spec({"workers": []})
        stacks.wait_ready()
    finally:
        operator.stop()
    assert "Forbidden" not in operator.log(), operator.log()[-3000:]
    assert "dso-djangostack-operator" in operator.log()  # it led, under the chart's Role

    as_operator = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    # Secrets of a namespace it does not manage are out of reach...
    assert secret_access(as_operator, "default") == DENIED
    # ...and in the one it manages it may read one by name, never list or watch them.
    assert secret_access(as_operator, solo_namespace) == BY_NAME_ONLY
    with pytest.raises(ApiException) as denied:
        client.RbacAuthorizationV1Api(as_operator.api_client).list_cluster_role()
    assert denied.value.status == 403
    uninstalled = run([*helm, "uninstall", "dso", "--namespace", release_namespace])
    assert uninstalled.returncode == 0, uninstalled.stderr


@pytest.fixture
def real_release_namespace(core: client.CoreV1Api) -> Iterator[str]:
    """A release namespace whose pods run on the real node."""
    name = f"dso-{uuid.uuid4().hex[:6]}"
    core.create_namespace(namespace_body(name, topology.REAL_NODE_TYPE))
    yield name
    core.delete_namespace(name)


def test_the_chart_runs_the_operator_image_as_a_pod_that_reconciles_stacks(
    helm: list[str],
    core: client.CoreV1Api,
    api_client: client.ApiClient,
    solo_namespace: str,
    real_release_namespace: str,
) -> None:
    """What a user's cluster runs: the image built from the Dockerfile, installed by the chart
    with its defaults (the locally loaded image is used as is: pull policy IfNotPresent)."""
    installed = run([*helm, "install", "dso", str(CHART), "--namespace", real_release_namespace,
                     "--set", f"watchNamespaces={{{solo_namespace}}}", "--set", "replicas=1",
                     "--wait", "--timeout=180s"])  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    (pod,) = core.list_namespaced_pod(real_release_namespace).items
    assert pod.spec.node_name == topology.REAL_NODE
    (container,) = pod.spec.containers
    assert container.image == images.OPERATOR.name.removeprefix("docker.io/")
    assert pod.status.container_statuses[0].ready
    with urllib.request.urlopen(f"http://{pod.status.pod_ip}:8080/healthz", timeout=5) as reply:
        assert reply.status == 200

    stacks = Stacks(api_client, solo_namespace)  # its pods run on kwok's fake node
    stacks.create()
    ready = stacks.wait_ready(timeout=120)
    assert ready["status"]["phase"] == "Ready"
    logs = core.read_namespaced_pod_log(pod.metadata.name, real_release_namespace)
    assert "Forbidden" not in logs
