"""The only module that talks to the Kubernetes API server (kopf's own watching aside).

Children are written with server-side apply under one field manager; Jobs and volume claims,
whose specs are immutable, are only ever created. Every request has a timeout (a hung
connection must not hold a worker forever) and is counted by verb; every failure comes out
as an `ApiError` that carries the API server's own message.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from kubernetes import client, config, dynamic
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError
from urllib3.exceptions import HTTPError

from djangostack_operator import metrics
from djangostack_operator.diff import applies_field
from djangostack_operator.spec import API_VERSION, GROUP, KIND, PLURAL, VERSION
from djangostack_operator.vocabulary import (
    FIELD_MANAGER,
    HANDOVER_MANAGER,
    OPERATOR,
    TIME_FORMAT,
)

# (connect, read) seconds of every request.
REQUEST_TIMEOUT = (5.0, 30.0)
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


class ApiError(Exception):
    """A request the API server refused (status >= 400) or that got no answer (status 0)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}" if status else message)
        self.status = status
        self.reason = reason
        self.message = message


def api_message(error: ApiException) -> str:
    """What the API server said: the message of its Status body, else the HTTP reason."""
    message = error.reason or ""
    with contextlib.suppress(ValueError, AttributeError):
        message = json.loads(error.body or "{}").get("message") or message
    return str(message)


def _failure(error: Exception) -> ApiError:
    if isinstance(error, ApiException):
        return ApiError(int(error.status or 0), str(error.reason or ""), api_message(error))
    return ApiError(0, "Unreachable", f"no answer from the API server: {error}")


@contextmanager
def _request(verb: str) -> Iterator[None]:
    metrics.API_REQUESTS.labels(verb=verb).inc()
    try:
        yield
    except (ApiException, HTTPError, OSError) as error:
        failure = _failure(error)
        metrics.API_ERRORS.labels(status=str(failure.status)).inc()
        raise failure from None


class NoCredentialsError(Exception):
    """Neither an in-cluster service account nor a usable kubeconfig: nothing to retry."""


def load_api_client() -> client.ApiClient:
    """In a pod: its service account. Elsewhere: $KUBECONFIG or ~/.kube/config.

    Raises NoCredentialsError, with one line saying what was looked for, when there are none.
    """
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        try:
            config.load_kube_config()  # type: ignore[no-untyped-call]
        except Exception as error:  # a missing file, bad YAML, an unknown context alike
            where = os.environ.get("KUBECONFIG") or "~/.kube/config"
            detail = " ".join(str(error).split()) or type(error).__name__
            raise NoCredentialsError(
                f"no usable Kubernetes credentials: not in a pod, and {where}: {detail}"
            ) from None
    configuration = client.Configuration.get_default_copy()
    # Fail fast and let the work queue retry, rather than urllib3 retrying inside a worker.
    configuration.retries = 1
    return client.ApiClient(configuration)


class Kube:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self.dynamic = dynamic.DynamicClient(api_client)  # type: ignore[no-untyped-call]
        self.core = client.CoreV1Api(api_client)
        self.objects = client.CustomObjectsApi(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
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

    def unserved(self, kinds: Iterable[tuple[str, str]]) -> frozenset[str]:
        """Which of these (apiVersion, kind) the API server does not serve (their CRD is not
        installed), asked now: the client's discovery cache is a file every process of the
        machine shares, and it may predate a CRD's deletion."""
        self.dynamic.resources.invalidate_cache()
        missing = set()
        for api_version, kind in kinds:
            with self._lock:
                self._resources.pop((api_version, kind), None)
            try:
                self._resource(api_version, kind)
            except ResourceNotFoundError:
                missing.add(kind)
        return frozenset(missing)

    # -- children -----------------------------------------------------------------------

    def apply(self, obj: dict[str, Any], force: bool = True) -> None:
        """Server-side apply, taking ownership of every field in `obj` (with force, also of
        fields another manager set; without, the API server refuses those with 409)."""
        self._server_side_apply(obj, obj["metadata"]["namespace"], FIELD_MANAGER, force)

    def _server_side_apply(
        self, body: dict[str, Any], namespace: str, manager: str, force: bool = True
    ) -> None:
        with _request("apply"):
            resource = self._resource(body["apiVersion"], body["kind"])
            resource.server_side_apply(
                body=body,
                namespace=namespace,
                field_manager=manager,
                force_conflicts=force,
                _request_timeout=REQUEST_TIMEOUT,
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
        try:
            with _request("get"):
                resource = self._resource(obj["apiVersion"], obj["kind"])
                live = resource.get(
                    name=name, namespace=namespace, _request_timeout=REQUEST_TIMEOUT
                ).to_dict()
        except ApiError as failure:
            if failure.status == 404:
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
        except ApiError as failure:
            if failure.status != 409:
                raise
            return False
        return True

    def create(self, obj: dict[str, Any]) -> bool:
        """Create `obj`; False when it already exists (it is then left exactly as it is)."""
        try:
            with _request("create"):
                resource = self._resource(obj["apiVersion"], obj["kind"])
                resource.create(
                    body=obj,
                    namespace=obj["metadata"]["namespace"],
                    field_manager=FIELD_MANAGER,
                    _request_timeout=REQUEST_TIMEOUT,
                )
        except ApiError as failure:
            if failure.status == 409 and failure.reason == "Conflict":
                return False
            raise
        return True

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete with background propagation (owned objects follow); gone already is fine."""
        try:
            with _request("delete"):
                resource = self._resource(api_version, kind)
                resource.delete(
                    name=name,
                    namespace=namespace,
                    body={"propagationPolicy": "Background"},
                    _request_timeout=REQUEST_TIMEOUT,
                )
        except ApiError as failure:
            if failure.status != 404:
                raise

    def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """One Secret by name (None: it does not exist). The operator never lists or watches
        Secrets; the caller keeps a digest of the values and drops the body."""
        try:
            with _request("get"):
                secret = self.core.read_namespaced_secret(
                    name, namespace, _request_timeout=REQUEST_TIMEOUT
                )
        except ApiError as failure:
            if failure.status == 404:
                return None
            raise
        body: dict[str, Any] = self.api_client.sanitize_for_serialization(secret)  # type: ignore[no-untyped-call]
        return body

    def create_secret(
        self, namespace: str, metadata: dict[str, Any], secret_type: str, data: dict[str, str]
    ) -> bool:
        """Create a Secret unless one of that name exists; never overwrites. False if it existed."""
        body: Any = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": secret_type,
            "data": data,
        }
        try:
            with _request("create"):
                self.core.create_namespaced_secret(
                    namespace, body, field_manager=FIELD_MANAGER, _request_timeout=REQUEST_TIMEOUT
                )
        except ApiError as failure:
            if failure.status == 409 and failure.reason == "Conflict":
                return False
            raise
        return True

    def rewrite_secret(
        self, namespace: str, name: str, metadata: dict[str, Any], data: dict[str, str]
    ) -> None:
        """Replace the data (and merge the metadata) of a Secret the operator generated."""
        body = {"metadata": metadata, "data": data}
        with _request("patch"):
            self.core.patch_namespaced_secret(
                name, namespace, body, field_manager=FIELD_MANAGER,
                _request_timeout=REQUEST_TIMEOUT,
            )  # fmt: skip

    def patch_metadata(
        self, api_version: str, kind: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> None:
        """A JSON merge patch (lists, such as ownerReferences, are replaced whole)."""
        with _request("patch"):
            resource = self._resource(api_version, kind)
            resource.patch(
                body=patch, name=name, namespace=namespace,
                content_type="application/merge-patch+json", field_manager=FIELD_MANAGER,
                _request_timeout=REQUEST_TIMEOUT,
            )  # fmt: skip

    def list_names(
        self, api_version: str, kind: str, namespace: str | None, label_selector: str | None
    ) -> list[tuple[str, str, str]]:
        """(namespace, name, resourceVersion) of every object of a kind, as metadata only."""
        with _request("list"):
            resource = self._resource(api_version, kind)
            listing = resource.get(
                namespace=namespace,
                label_selector=label_selector,
                header_params={"Accept": METADATA_LIST},
                _request_timeout=REQUEST_TIMEOUT,
            ).to_dict()
        return [
            (
                item["metadata"].get("namespace") or "",
                item["metadata"]["name"],
                item["metadata"].get("resourceVersion") or "",
            )
            for item in listing.get("items") or []
        ]

    # -- the stack ----------------------------------------------------------------------

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        try:
            with _request("patch"):
                self.objects.patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, PLURAL, name, {"status": status},
                    _request_timeout=REQUEST_TIMEOUT,
                )  # fmt: skip
        except ApiError as failure:
            if failure.status != 404:  # the stack was deleted meanwhile
                raise

    def post_event(
        self, stack: dict[str, Any], event_type: str, reason: str, message: str, instance: str
    ) -> None:
        """A core/v1 Event about the stack (what `kubectl describe` and `get events` show)."""
        metadata = stack["metadata"]
        now = datetime.datetime.now(datetime.UTC)
        body: Any = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{metadata['name']}.{uuid.uuid4().hex[:16]}",
                "namespace": metadata["namespace"],
            },
            "involvedObject": {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": metadata["name"],
                "namespace": metadata["namespace"],
                "uid": metadata.get("uid"),
                "resourceVersion": metadata.get("resourceVersion"),
            },
            "type": event_type,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": OPERATOR},
            "reportingComponent": OPERATOR,
            "reportingInstance": instance,
            "firstTimestamp": now.strftime(TIME_FORMAT),
            "lastTimestamp": now.strftime(TIME_FORMAT),
            "count": 1,
        }
        with _request("event"):
            self.core.create_namespaced_event(
                metadata["namespace"], body, _request_timeout=REQUEST_TIMEOUT
            )

    # -- leader election ----------------------------------------------------------------

    def read_lease(self, namespace: str, name: str) -> Any | None:
        try:
            with _request("get"):
                return self.coordination.read_namespaced_lease(
                    name, namespace, _request_timeout=REQUEST_TIMEOUT
                )
        except ApiError as failure:
            if failure.status == 404:
                return None
            raise

    def write_lease(self, namespace: str, lease: Any, create: bool) -> Any:
        """Create or replace (optimistically, by resourceVersion) the Lease."""
        with _request("lease"):
            if create:
                return self.coordination.create_namespaced_lease(
                    namespace, lease, _request_timeout=REQUEST_TIMEOUT
                )
            return self.coordination.replace_namespaced_lease(
                lease.metadata.name, namespace, lease, _request_timeout=REQUEST_TIMEOUT
            )
