"""The only module that talks to the Kubernetes API server (kopf's own watching aside).

Children are written with server-side apply under one field manager; Jobs and volume claims,
whose specs are immutable, are only ever created. Every request is counted by verb.
"""

from __future__ import annotations

import threading
from typing import Any

from kubernetes import client, config, dynamic
from kubernetes.client.exceptions import ApiException

from djangostack_operator import metrics
from djangostack_operator.diff import applies_field
from djangostack_operator.spec import GROUP, PLURAL, VERSION

FIELD_MANAGER = "djangostack-operator"
HANDOVER_MANAGER = "djangostack-operator-handover"


def load_api_client() -> client.ApiClient:
    """In a pod: its service account. Elsewhere: $KUBECONFIG or ~/.kube/config."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    return client.ApiClient()


class Kube:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self.dynamic = dynamic.DynamicClient(api_client)  # type: ignore[no-untyped-call]
        self.core = client.CoreV1Api(api_client)
        self.objects = client.CustomObjectsApi(api_client)
        self._resources: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def _resource(self, api_version: str, kind: str) -> Any:
        key = (api_version, kind)
        with self._lock:
            if key not in self._resources:
                self._resources[key] = self.dynamic.resources.get(
                    api_version=api_version, kind=kind
                )
            return self._resources[key]

    def apply(self, obj: dict[str, Any]) -> None:
        """Server-side apply, taking ownership of every field in `obj` (force)."""
        self._server_side_apply(obj, obj["metadata"]["namespace"], FIELD_MANAGER)

    def _server_side_apply(
        self, body: dict[str, Any], namespace: str, manager: str, force: bool = True
    ) -> None:
        metrics.API_REQUESTS.labels(verb="apply").inc()
        resource = self._resource(body["apiVersion"], body["kind"])
        resource.server_side_apply(
            body=body, namespace=namespace, field_manager=manager, force_conflicts=force
        )

    def hand_over_replicas(self, obj: dict[str, Any]) -> bool:
        """Make `spec.replicas` co-owned by a hand-over manager before we stop applying it.

        Server-side apply deletes a field its only owner stops setting: without this, turning
        autoscaling on would reset the Deployment to 1 replica until the HPA scales it back.
        The live object is read first (a watch cache may be behind: handing over an old value
        would undo a scale made since), and the claim is not forced: when someone else (the
        HPA, kubectl scale) sets another value in between, the API server refuses it with a
        conflict and that owner keeps the field. True when the claim was made.
        """
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        metrics.API_REQUESTS.labels(verb="get").inc()
        resource = self._resource(obj["apiVersion"], obj["kind"])
        try:
            live = resource.get(name=name, namespace=namespace).to_dict()
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        if not applies_field(live, FIELD_MANAGER, "spec", "replicas"):
            return False
        claim = {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "metadata": {"name": name},
            "spec": {"replicas": live["spec"].get("replicas", 1)},
        }
        try:
            self._server_side_apply(claim, namespace, HANDOVER_MANAGER, force=False)
        except ApiException as error:
            if error.status != 409:
                raise
            return False
        return True

    def create(self, obj: dict[str, Any]) -> bool:
        """Create `obj`; False when it already exists (it is then left exactly as it is)."""
        metrics.API_REQUESTS.labels(verb="create").inc()
        resource = self._resource(obj["apiVersion"], obj["kind"])
        try:
            resource.create(
                body=obj, namespace=obj["metadata"]["namespace"], field_manager=FIELD_MANAGER
            )
        except ApiException as error:
            if error.status == 409:
                return False
            raise
        return True

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete with background propagation (owned objects follow); gone already is fine."""
        metrics.API_REQUESTS.labels(verb="delete").inc()
        resource = self._resource(api_version, kind)
        try:
            resource.delete(
                name=name,
                namespace=namespace,
                body={"propagationPolicy": "Background"},
            )
        except ApiException as error:
            if error.status != 404:
                raise

    def create_secret(
        self,
        namespace: str,
        metadata: dict[str, Any],
        secret_type: str,
        data: dict[str, str],
    ) -> bool:
        """Create a Secret unless one of that name exists; never overwrites. False if it existed."""
        metrics.API_REQUESTS.labels(verb="create").inc()
        body: Any = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": secret_type,
            "data": data,
        }
        try:
            self.core.create_namespaced_secret(namespace, body, field_manager=FIELD_MANAGER)
        except ApiException as error:
            if error.status == 409:
                return False
            raise
        return True

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        metrics.API_REQUESTS.labels(verb="patch").inc()
        try:
            self.objects.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name, {"status": status}
            )
        except ApiException as error:
            if error.status != 404:  # the stack was deleted meanwhile
                raise
