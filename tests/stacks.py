"""Driving DjangoStacks on the local control plane from tests: create, patch, read, wait."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from djangostack_operator.spec import GROUP, PLURAL, VERSION
from tests.factories import stack_object
from tests.kube_helpers import wait_for


class Stacks:
    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.objects = client.CustomObjectsApi(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.core = client.CoreV1Api(api_client)

    def create(self, name: str = "shop", **spec: Any) -> dict[str, Any]:
        body = stack_object(name=name, namespace=self.namespace, uid=None, **spec)
        result: dict[str, Any] = self.objects.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, body
        )
        return result

    def get(self, name: str = "shop") -> dict[str, Any]:
        result: dict[str, Any] = self.objects.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name
        )
        return result

    def patch_spec(self, spec: dict[str, Any], name: str = "shop") -> dict[str, Any]:
        result: dict[str, Any] = self.objects.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, {"spec": spec}
        )
        return result

    def delete(self, name: str = "shop") -> None:
        self.objects.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def condition(self, kind: str, name: str = "shop") -> dict[str, Any]:
        for condition in self.get(name).get("status", {}).get("conditions", []):
            if condition["type"] == kind:
                return dict(condition)
        return {}

    def wait_condition(
        self, kind: str, status: str = "True", name: str = "shop", timeout: float = 90
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            stack = self.get(name)
            found = next(
                (c for c in stack.get("status", {}).get("conditions", []) if c["type"] == kind),
                None,
            )
            generation = stack["metadata"]["generation"]
            if (
                found
                and found["status"] == status
                and found.get("observedGeneration") == generation
            ):
                return stack
            return None

        return wait_for(f"{kind}={status} on DjangoStack {name}", reached, timeout)

    def wait_ready(self, name: str = "shop", timeout: float = 90) -> dict[str, Any]:
        return self.wait_condition("Ready", "True", name, timeout)

    def image_of(self, deployment: str) -> str:
        found = self.apps.read_namespaced_deployment(deployment, self.namespace)
        return str(found.spec.template.spec.containers[0].image)

    def jobs(self, prefix: str) -> list[Any]:
        items = self.batch.list_namespaced_job(self.namespace).items
        return [job for job in items if job.metadata.name.startswith(prefix)]

    def resource_versions(self) -> dict[str, str]:
        """resourceVersion of the stack and of every object labelled as one of its children."""
        versions = {"DjangoStack/shop": self.get()["metadata"]["resourceVersion"]}
        selector = "app.kubernetes.io/managed-by=djangostack-operator"
        listings = {
            "Deployment": self.apps.list_namespaced_deployment,
            "StatefulSet": self.apps.list_namespaced_stateful_set,
            "Service": self.core.list_namespaced_service,
            "ConfigMap": self.core.list_namespaced_config_map,
            "Secret": self.core.list_namespaced_secret,
            "PersistentVolumeClaim": self.core.list_namespaced_persistent_volume_claim,
            "Job": self.batch.list_namespaced_job,
            "CronJob": self.batch.list_namespaced_cron_job,
        }
        for kind, listing in listings.items():
            for item in listing(self.namespace, label_selector=selector).items:
                versions[f"{kind}/{item.metadata.name}"] = item.metadata.resource_version
        return versions
