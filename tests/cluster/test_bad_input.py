"""The operator under input and losses a careless or hostile user brings, on the real API
server (kwok runs the pods): nothing half-done, nothing silently ignored, no data lost."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from cryptography import x509
from kubernetes.client.exceptions import ApiException

from djangostack_operator.render.secrets import generated_secrets
from tests.factories import make_stack
from tests.kube_helpers import wait_for
from tests.stacks import Stacks

V1 = "registry.example.com/shop:1.0.0"
V2 = "registry.example.com/shop:2.0.0"
FAIL_JOBS = {"pod-container-running-failed.stage.kwok.x-k8s.io": "true"}
APP_DEPLOYMENTS = ("shop-web", "shop-worker-default", "shop-beat")


@pytest.fixture
def stacks(api_client: Any, op_namespace: str) -> Stacks:
    return Stacks(api_client, op_namespace)


def stalled(stacks: Stacks, reason: str) -> dict[str, Any]:
    stack = stacks.wait_condition("Stalled", "True")
    condition = next(c for c in stack["status"]["conditions"] if c["type"] == "Stalled")
    assert condition["reason"] == reason, condition
    return dict(condition)


def deployment_uid(stacks: Stacks, name: str) -> str:
    return str(stacks.apps.read_namespaced_deployment(name, stacks.namespace).metadata.uid)


def test_a_web_deployment_lost_while_a_release_failed_comes_back_at_the_serving_release(
    stacks: Stacks,
) -> None:
    stacks.create()
    stacks.wait_ready()
    stacks.patch_spec({"image": V2, "podAnnotations": FAIL_JOBS})
    stalled(stacks, "MigrationFailed")
    for kind in ("WebAvailable", "WorkersAvailable", "BeatAvailable"):
        stacks.wait_condition(kind, "True")
    kept = {name: deployment_uid(stacks, name) for name in APP_DEPLOYMENTS[1:]}
    lost = deployment_uid(stacks, "shop-web")
    stacks.apps.delete_namespaced_deployment("shop-web", stacks.namespace)
    wait_for("web to be re-created", lambda: deployment_uid(stacks, "shop-web") != lost)
    assert stacks.image_of("shop-web") == V1
    stacks.wait_condition("WebAvailable", "True")
    # Workers and beat were never pruned or rolled to the failed release.
    assert {name: deployment_uid(stacks, name) for name in kept} == kept
    assert all(stacks.image_of(name) == V1 for name in APP_DEPLOYMENTS)
    status = stacks.get()["status"]
    assert status["releasedImage"] == V1 and status["phase"] == "Stalled"


def test_a_host_longer_than_a_common_name_and_a_changed_host_get_their_certificates(
    stacks: Stacks,
) -> None:
    long_host = "shop-" + "a" * 50 + ".example.com"  # 67 characters
    stacks.create(ingress={"host": long_host})
    stacks.wait_ready()
    assert certificate_hosts(stacks) == [long_host]
    stacks.patch_spec({"ingress": {"host": "store.example.com"}})
    wait_for("a certificate for the new host",
             lambda: certificate_hosts(stacks) == ["store.example.com"])  # fmt: skip
    stacks.wait_ready()


def certificate_hosts(stacks: Stacks) -> list[str]:
    secret = stacks.core.read_namespaced_secret("shop-tls", stacks.namespace)
    certificate = x509.load_pem_x509_certificate(base64.b64decode(secret.data["tls.crt"]))
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(name) for name in names.get_values_for_type(x509.DNSName)]


def test_an_object_of_a_childs_name_that_is_not_the_stacks_is_reported_and_left_alone(
    stacks: Stacks,
) -> None:
    labels = {"app": "theirs"}
    theirs = {
        "metadata": {"name": "shop-web", "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "x", "image": "theirs:1"}]}},
        },
    }  # fmt: skip
    stacks.apps.create_namespaced_deployment(stacks.namespace, theirs)
    stacks.create(web={"replicas": 1})
    condition = wait_for("a NameConflict", lambda: _stalled_by(stacks, "NameConflict"), timeout=120)
    assert "Deployment shop-web" in condition["message"]
    found = stacks.apps.read_namespaced_deployment("shop-web", stacks.namespace)
    # Not one field of it was written by the operator (its status moves with its own pod).
    assert {entry.manager for entry in found.metadata.managed_fields} <= {
        "kube-controller-manager", "OpenAPI-Generator",
    }  # fmt: skip
    assert found.metadata.owner_references is None
    assert found.metadata.labels == labels
    assert found.spec.template.spec.containers[0].image == "theirs:1"
    # The rest of the stack went ahead: the workers run.
    wait_for("the worker pool", lambda: stacks.image_of("shop-worker-default") == V1)


def _stalled_by(stacks: Stacks, reason: str) -> dict[str, Any] | None:
    condition = stacks.condition("Stalled")
    return condition if condition.get("reason") == reason else None


def test_a_deleted_password_whose_database_volume_remains_stalls_until_it_is_restored(
    stacks: Stacks,
) -> None:
    stacks.create()
    stacks.wait_ready()
    secret = stacks.core.read_namespaced_secret("shop-postgres", stacks.namespace)
    stacks.core.delete_namespaced_secret("shop-postgres", stacks.namespace)
    condition = stalled(stacks, "SecretLost")
    assert "data-shop-postgres-0" in condition["message"]
    time.sleep(2)  # a window for a new password to appear, not a wait for a state
    with pytest.raises(ApiException) as absent:
        stacks.core.read_namespaced_secret("shop-postgres", stacks.namespace)
    assert absent.value.status == 404
    # The user puts the old password back: the stack is whole again.
    restored = {"metadata": {"name": "shop-postgres", "labels": secret.metadata.labels},
                "data": secret.data}  # fmt: skip
    stacks.core.create_namespaced_secret(stacks.namespace, restored)
    stacks.wait_ready()


def owners(stacks: Stacks) -> dict[str, list[str]]:
    """The kinds owning each Secret and volume claim of the stack."""
    selector = "app.kubernetes.io/instance=shop"
    found: dict[str, list[str]] = {}
    for item in stacks.core.list_namespaced_secret(stacks.namespace, label_selector=selector).items:
        found[f"Secret/{item.metadata.name}"] = sorted(
            r.kind for r in item.metadata.owner_references or []
        )
    claims = stacks.core.list_namespaced_persistent_volume_claim(
        stacks.namespace, label_selector=selector
    )
    for item in claims.items:
        found[f"PersistentVolumeClaim/{item.metadata.name}"] = sorted(
            r.kind for r in item.metadata.owner_references or []
        )
    return found


def test_one_deletion_policy_governs_secrets_backups_and_data_volumes_together(
    stacks: Stacks,
) -> None:
    stacks.create(deletionPolicy="Retain")
    stacks.wait_ready()
    # The generated Secrets, the two data claims and the backup claim.
    expected = len(generated_secrets(make_stack())) + 3
    wait_for("the volume claims", lambda: len(owners(stacks)) == expected)
    assert set(map(tuple, owners(stacks).values())) == {()}

    def owned_by_delete(found: dict[str, list[str]]) -> bool:
        return all(
            kinds == (["StatefulSet"] if name.startswith("PersistentVolumeClaim/data-")
                      else ["DjangoStack"])
            for name, kinds in found.items()
        )  # fmt: skip

    stacks.patch_spec({"deletionPolicy": "Delete"})
    wait_for("every Secret and claim to go with the stack", lambda: owned_by_delete(owners(stacks)))
    stacks.patch_spec({"deletionPolicy": "Retain"})
    wait_for("every Secret and claim to be kept",
             lambda: set(map(tuple, owners(stacks).values())) == {()})  # fmt: skip
    stacks.wait_ready()
