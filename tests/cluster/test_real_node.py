"""The real node: containers that really run, from the images built here, on containerd.

Every pod here lands on the real node (`real_namespace`), runs a process of a locally built
image and is reached over the pod network, a Service, the cluster DNS and the Ingress
controller, as on any cluster.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client

from djangostack_devcluster import images, topology
from djangostack_devcluster.cluster import LocalCluster
from djangostack_operator.secretgen import self_signed_certificate
from tests.kube_helpers import kubectl, wait_for

APP_IMAGE = images.APP.name
# Placeholders the app's settings need to start (app/build.env), never real secrets.
APP_ENV = {
    line.split("=", 1)[0]: line.split("=", 1)[1]
    for line in (Path(__file__).parents[2] / "app" / "build.env").read_text().splitlines()
    if line and not line.startswith("#")
}


def restricted_pod(
    name: str,
    image: str,
    command: list[str] | None = None,
    labels: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    port: int | None = None,
    volumes: list[dict[str, Any]] | None = None,
    mounts: list[dict[str, Any]] | None = None,
    restart: str = "Never",
) -> dict[str, Any]:
    """A pod the "restricted" Pod Security level admits, from a local image (never pulled)."""
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "imagePullPolicy": "Never",
        "env": [{"name": key, "value": value} for key, value in (env or {}).items()],
        "volumeMounts": mounts or [],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if command:
        container["command"] = command
    if port:
        container["ports"] = [{"containerPort": port}]
        container["readinessProbe"] = {"tcpSocket": {"port": port}, "periodSeconds": 1}
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "restartPolicy": restart,
            # Python as PID 1 ignores SIGTERM; do not wait for it when the namespace goes.
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsUser": 10001, "runAsGroup": 10001},
            "containers": [container],
            "volumes": volumes or [],
        },
    }


def wait_ready(core: client.CoreV1Api, namespace: str, name: str, timeout: float = 90) -> Any:
    def ready() -> Any:
        pod = core.read_namespaced_pod(name, namespace)
        conditions = {c.type: c.status for c in pod.status.conditions or []}
        return pod if conditions.get("Ready") == "True" else None

    return wait_for(f"pod {namespace}/{name} Ready", ready, timeout=timeout)


def wait_phase(core: client.CoreV1Api, namespace: str, name: str, phase: str) -> Any:
    def reached() -> Any:
        pod = core.read_namespaced_pod(name, namespace)
        assert pod.status.phase != "Failed" or phase == "Failed", pod.status
        return pod if pod.status.phase == phase else None

    return wait_for(f"pod {namespace}/{name} {phase}", reached, timeout=90)


def http_status(url: str) -> int:
    """The status of GET `url`; 0 while nothing answers (kube-proxy's rules for a new
    endpoint, or the server itself, may lag a moment behind the pod's readiness)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return int(reply.status)
    except OSError:
        return 0


def test_the_real_node_runs_containerd_and_is_ready(core: client.CoreV1Api) -> None:
    node = core.read_node(topology.REAL_NODE)
    assert node.status.node_info.container_runtime_version.startswith("containerd://")
    conditions = {c.type: c.status for c in node.status.conditions}
    assert conditions["Ready"] == "True"
    assert node.metadata.labels[topology.NODE_TYPE_LABEL] == topology.REAL_NODE_TYPE
    addresses = {a.type: a.address for a in node.status.addresses}
    assert addresses["InternalIP"] == topology.NODE_IP
    # kwok manages its own node only: the real node's lease and status are the kubelet's.
    assert topology.KWOK_NODE_ANNOTATION not in (node.metadata.annotations or {})


def test_a_pod_runs_a_process_of_a_local_image_with_logs_and_exec(
    core: client.CoreV1Api, real_namespace: str, local_cluster: LocalCluster
) -> None:
    marker = uuid.uuid4().hex
    script = f"import os, time; print('{marker}', os.getuid(), flush=True); time.sleep(600)"
    core.create_namespaced_pod(
        real_namespace, restricted_pod("hello", APP_IMAGE, ["python", "-c", script])
    )
    pod = wait_phase(core, real_namespace, "hello", "Running")
    assert pod.spec.node_name == topology.REAL_NODE
    assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network(topology.POD_CIDR)
    (status,) = pod.status.container_statuses
    assert status.container_id.startswith("containerd://")

    logs = wait_for(
        "the pod's output",
        lambda: (text := core.read_namespaced_pod_log("hello", real_namespace)) and text,
    )
    assert f"{marker} 10001" in logs
    executed = kubectl(local_cluster, "exec", "-n", real_namespace, "hello", "--",
                       "python", "-c", "import os; print(os.getpid(), os.getuid())")  # fmt: skip
    assert executed.returncode == 0, executed.stderr
    pid, uid = executed.stdout.split()
    assert uid == "10001" and pid != "1"


def test_a_service_reaches_its_pod_by_cluster_ip_and_by_every_dns_name(
    core: client.CoreV1Api, real_namespace: str, local_cluster: LocalCluster
) -> None:
    labels = {"app": "web"}
    serve = ["python", "-m", "http.server", "8000", "--directory", "/app"]
    core.create_namespaced_pod(
        real_namespace, restricted_pod("web", APP_IMAGE, serve, labels, port=8000)
    )
    sleep = ["python", "-c", "import time; time.sleep(600)"]
    core.create_namespaced_pod(real_namespace, restricted_pod("client", APP_IMAGE, sleep))
    service = core.create_namespaced_service(
        real_namespace,
        {
            "metadata": {"name": "web"},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8000}]},
        },
    )
    wait_ready(core, real_namespace, "web")
    wait_phase(core, real_namespace, "client", "Running")

    # From the host, through kube-proxy's rules.
    cluster_ip = service.spec.cluster_ip
    assert (
        wait_for("the ClusterIP from the host", lambda: http_status(f"http://{cluster_ip}/")) == 200
    )
    # From another pod, by the names the renderer's pods use for PostgreSQL and Redis.
    names = ["web", f"web.{real_namespace}", f"web.{real_namespace}.svc.{topology.CLUSTER_DOMAIN}"]
    probe = (
        "import sys, urllib.request\n"
        "for name in sys.argv[1:]:\n"
        "    print(name, urllib.request.urlopen(f'http://{name}/', timeout=5).status)\n"
    )

    def reached() -> str | None:
        tried = kubectl(local_cluster, "exec", "-n", real_namespace, "client", "--",
                        "python", "-c", probe, *names)  # fmt: skip
        return tried.stdout if tried.returncode == 0 else None

    output = wait_for("the Service by its DNS names from a pod", reached)
    assert output.split() == [word for name in names for word in (name, "200")]


def test_pods_reach_nothing_beyond_the_machine(
    core: client.CoreV1Api, real_namespace: str, local_cluster: LocalCluster
) -> None:
    """No masquerade, no forwarding off the bridge, no resolver but the cluster's."""
    sleep = ["python", "-c", "import time; time.sleep(600)"]
    core.create_namespaced_pod(real_namespace, restricted_pod("client", APP_IMAGE, sleep))
    wait_phase(core, real_namespace, "client", "Running")
    probe = (
        "import socket\n"
        "results = []\n"
        "for target in [('192.0.2.10', 80), ('1.1.1.1', 443)]:\n"
        "    try:\n"
        "        socket.create_connection(target, timeout=2).close(); results.append('reached')\n"
        "    except OSError:\n"
        "        results.append('blocked')\n"
        "try:\n"
        "    socket.getaddrinfo('pypi.org', 443); results.append('resolved')\n"
        "except OSError:\n"
        "    results.append('unresolved')\n"
        "print(' '.join(results))\n"
    )
    tried = kubectl(
        local_cluster, "exec", "-n", real_namespace, "client", "--", "python", "-c", probe
    )
    assert tried.returncode == 0, tried.stderr
    assert tried.stdout.split() == ["blocked", "blocked", "unresolved"]


def test_a_volume_claim_is_a_real_directory_that_outlives_its_pod(
    core: client.CoreV1Api, real_namespace: str
) -> None:
    core.create_namespaced_persistent_volume_claim(
        real_namespace,
        {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Mi"}},
            },
        },
    )
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    mounts = [{"name": "data", "mountPath": "/data"}]
    token = uuid.uuid4().hex
    write = ["python", "-c", f"open('/data/marker', 'w').write('{token}')"]
    core.create_namespaced_pod(
        real_namespace, restricted_pod("writer", APP_IMAGE, write, volumes=volumes, mounts=mounts)
    )
    wait_phase(core, real_namespace, "writer", "Succeeded")

    claim = core.read_namespaced_persistent_volume_claim("data", real_namespace)
    volume = core.read_persistent_volume(claim.spec.volume_name)
    assert (Path(volume.spec.host_path.path) / "marker").read_text() == token

    core.delete_namespaced_pod("writer", real_namespace, grace_period_seconds=0)
    read = ["python", "-c", "print(open('/data/marker').read())"]
    core.create_namespaced_pod(
        real_namespace, restricted_pod("reader", APP_IMAGE, read, volumes=volumes, mounts=mounts)
    )
    wait_phase(core, real_namespace, "reader", "Succeeded")
    assert core.read_namespaced_pod_log("reader", real_namespace).strip() == token


def test_the_app_image_serves_its_health_endpoint(
    core: client.CoreV1Api, real_namespace: str
) -> None:
    """The Dockerfile's `app` target, built here, with its own default command (gunicorn)."""
    pod = restricted_pod("app", APP_IMAGE, env=APP_ENV, port=8000)
    core.create_namespaced_pod(real_namespace, pod)
    running = wait_ready(core, real_namespace, "app")
    url = f"http://{running.status.pod_ip}:8000/healthz"
    assert wait_for("the app's /healthz", lambda: http_status(url)) == 200


def https_get(host: str, path: str, ca_pem: bytes) -> tuple[int, bytes]:
    """GET over TLS to the Ingress controller's port with SNI `host`, trusting only `ca_pem`;
    returns the status and the certificate the controller presented (DER)."""
    context = ssl.create_default_context(cadata=ca_pem.decode())
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    address = ("127.0.0.1", topology.INGRESS_HTTPS_PORT)
    with (
        socket.create_connection(address, timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        presented = tls.getpeercert(binary_form=True) or b""
        tls.sendall(request)
        status_line = tls.recv(4096).split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), presented


def test_an_ingress_serves_https_with_the_certificate_from_its_secret(
    core: client.CoreV1Api, real_namespace: str, api_client: client.ApiClient
) -> None:
    host = f"shop-{uuid.uuid4().hex[:6]}.example.com"
    labels = {"app": "web"}
    serve = ["python", "-m", "http.server", "8000", "--directory", "/app"]
    core.create_namespaced_pod(
        real_namespace, restricted_pod("web", APP_IMAGE, serve, labels, port=8000)
    )
    core.create_namespaced_service(
        real_namespace,
        {
            "metadata": {"name": "web"},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8000}]},
        },
    )
    # The operator's own helper, as for a stack's self-signed TLS Secret.
    cert_pem, key_pem = self_signed_certificate(host)
    core.create_namespaced_secret(
        real_namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="web-tls"),
            type="kubernetes.io/tls",
            string_data={"tls.crt": cert_pem.decode(), "tls.key": key_pem.decode()},
        ),
    )
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    client.NetworkingV1Api(api_client).create_namespaced_ingress(
        real_namespace,
        {
            # No ingressClassName: the cluster's default IngressClass (Traefik) takes it.
            "metadata": {"name": "web"},
            "spec": {
                "tls": [{"hosts": [host], "secretName": "web-tls"}],
                "rules": [
                    {
                        "host": host,
                        "http": {
                            "paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]
                        },
                    }
                ],
            },
        },
    )
    wait_ready(core, real_namespace, "web")

    def served() -> tuple[int, bytes] | None:
        try:
            status, presented = https_get(host, "/", cert_pem)
        except (OSError, ssl.SSLError):
            return None  # Traefik has not loaded the Ingress (or its Secret) yet
        return (status, presented) if status == 200 else None

    status, presented = wait_for(f"https://{host}:{topology.INGRESS_HTTPS_PORT}/", served)
    assert status == 200
    expected = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    assert presented == expected
    networking = client.NetworkingV1Api(api_client)
    ingress = networking.read_namespaced_ingress("web", real_namespace)
    assert ingress.spec.ingress_class_name == topology.INGRESS_CLASS

    def published() -> str | None:
        status = networking.read_namespaced_ingress("web", real_namespace).status
        points = status.load_balancer.ingress or []
        return points[0].ip if points else None

    assert wait_for("the Ingress's published address", published) == "127.0.0.1"

    # Plain HTTP is redirected to the HTTPS entry point by the controller, before any app.
    plain = http.client.HTTPConnection("127.0.0.1", topology.INGRESS_HTTP_PORT, timeout=5)
    plain.request("GET", "/some/path?q=1", headers={"Host": host})
    reply = plain.getresponse()
    assert reply.status in (301, 308)
    assert reply.getheader("Location") == (
        f"https://{host}:{topology.INGRESS_HTTPS_PORT}/some/path?q=1"
    )
