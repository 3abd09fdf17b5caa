"""The plugin's one conversation with the API server: read a stack and what it runs, ask for
a backup or a restore, start a one-off command, read logs, and wait for the outcome."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from kubernetes import client, config, dynamic
from kubernetes.client.exceptions import ApiException

from djangostack_operator import vocabulary as keys
from djangostack_operator.kube import api_message
from djangostack_operator.plugin.views import PodLine, Revision, tier_of
from djangostack_operator.release import job_state, released_from
from djangostack_operator.render import RenderContext, django
from djangostack_operator.spec import API_VERSION, BACKUP_NOW_ANNOTATION, KIND, DjangoStack
from djangostack_operator.validation import parse_stack

T = TypeVar("T")
REVISION = "deployment.kubernetes.io/revision"
POLL_SECONDS = 2.0


class PluginError(Exception):
    """A failure to report in one line (exit 1)."""


def _selector(stack: str, **labels: str) -> str:
    return ",".join(f"{key}={value}" for key, value in {keys.INSTANCE: stack, **labels}.items())


def connect(kubeconfig: str | None, context: str | None) -> tuple[client.ApiClient, str]:
    """A client for the kubeconfig's (or the named) context, and that context's namespace."""
    try:
        config.load_kube_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except Exception as error:  # a missing file, bad YAML, an unknown context alike
        raise PluginError(f"no usable kubeconfig: {' '.join(str(error).split())}") from None
    chosen = next((c for c in contexts if c.get("name") == context), active)
    namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
    return client.ApiClient(), namespace


class Session:
    """Reads and writes of the plugin; every object comes back as a plain dict."""

    def __init__(self, api_client: client.ApiClient, namespace: str, timeout: float) -> None:
        self.namespace = namespace
        self.timeout = timeout
        self.dynamic = dynamic.DynamicClient(api_client)  # type: ignore[no-untyped-call]
        self.core = client.CoreV1Api(api_client)

    def _api(self, api_version: str, kind: str) -> Any:
        return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def _get(self, api_version: str, kind: str, name: str) -> dict[str, Any] | None:
        try:
            found = self._api(api_version, kind).get(name=name, namespace=self.namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        plain: dict[str, Any] = found.to_dict()
        return plain

    def _list(self, api_version: str, kind: str, selector: str) -> list[dict[str, Any]]:
        found = self._api(api_version, kind).get(namespace=self.namespace, label_selector=selector)
        items: list[dict[str, Any]] = found.to_dict().get("items") or []
        return sorted(items, key=lambda obj: str(obj["metadata"]["name"]))

    # ---- reading ------------------------------------------------------------------------

    def stack_object(self, name: str) -> dict[str, Any]:
        found = self._get(API_VERSION, KIND, name)
        if found is None:
            raise PluginError(f"no DjangoStack {name} in namespace {self.namespace}")
        return found

    def stack(self, name: str) -> DjangoStack:
        return parse_stack(self.stack_object(name))

    def pods(self, stack: str, **labels: str) -> list[dict[str, Any]]:
        return self._list("v1", "Pod", _selector(stack, **labels))

    def pod_lines(self, stack: str) -> list[PodLine]:
        lines = []
        for pod in self.pods(stack):
            statuses = pod.get("status", {}).get("containerStatuses") or []
            lines.append(
                PodLine(
                    name=pod["metadata"]["name"],
                    tier=tier_of(pod["metadata"].get("labels") or {}),
                    phase=pod.get("status", {}).get("phase") or "Unknown",
                    ready=bool(statuses) and all(s.get("ready") for s in statuses),
                    restarts=sum(int(s.get("restartCount") or 0) for s in statuses),
                )
            )
        return lines

    def revisions(self, stack: DjangoStack) -> list[Revision]:
        """The web Deployment's ReplicaSets: one per rollout it keeps."""
        selector = _selector(stack.name, **{keys.COMPONENT: django.WEB})
        revisions = []
        for replica_set in self._list("apps/v1", "ReplicaSet", selector):
            metadata = replica_set["metadata"]
            owners = metadata.get("ownerReferences") or []
            if not any(o["kind"] == "Deployment" and o["name"] == stack.names.web for o in owners):
                continue
            containers = replica_set["spec"]["template"]["spec"]["containers"]
            revisions.append(
                Revision(
                    number=int((metadata.get("annotations") or {}).get(REVISION, "0")),
                    image=str(containers[0]["image"]),
                    created=str(metadata.get("creationTimestamp") or ""),
                    pods=int(replica_set.get("status", {}).get("replicas") or 0),
                )
            )
        return revisions

    def migration_jobs(self, stack: DjangoStack) -> list[dict[str, Any]]:
        return self._list(
            "batch/v1", "Job", _selector(stack.name, **{keys.COMPONENT: django.MIGRATIONS})
        )

    def job(self, name: str) -> dict[str, Any] | None:
        return self._get("batch/v1", "Job", name)

    def job_pod(self, job: str) -> dict[str, Any] | None:
        pods = self._list("v1", "Pod", f"job-name={job}")
        return max(
            pods, key=lambda pod: str(pod["metadata"].get("creationTimestamp")), default=None
        )

    def _terminated(self, job: str) -> dict[str, Any]:
        pod = self.job_pod(job) or {}
        for status in pod.get("status", {}).get("containerStatuses") or []:
            terminated = (status.get("state") or {}).get("terminated")
            if terminated:
                found: dict[str, Any] = terminated
                return found
        return {}

    def termination_message(self, job: str) -> str:
        return str(self._terminated(job).get("message") or "")

    def exit_code(self, job: str) -> int | None:
        code = self._terminated(job).get("exitCode")
        return int(code) if code is not None else None

    def logs(self, pod: str, tail: int | None, follow: bool = False) -> Iterator[str]:
        response: Any = self.core.read_namespaced_pod_log(
            pod, self.namespace, tail_lines=tail, follow=follow, _preload_content=False
        )
        try:
            for chunk in response.stream(decode_content=True):
                yield chunk.decode(errors="replace") if isinstance(chunk, bytes) else str(chunk)
        finally:
            response.release_conn()

    # ---- asking -------------------------------------------------------------------------

    def request_backup(self, stack: str, request: str) -> None:
        """A new value of the backup-now annotation: the operator takes one backup for it."""
        patch = {"metadata": {"annotations": {BACKUP_NOW_ANNOTATION: request}}}
        self._patch_stack(stack, patch)

    def request_restore(self, stack: str, source: str) -> int:
        """Set spec.database.restoreFrom; returns the generation that asks for it."""
        patched = self._patch_stack(stack, {"spec": {"database": {"restoreFrom": source}}})
        return int(patched["metadata"]["generation"])

    def _patch_stack(self, stack: str, patch: dict[str, Any]) -> dict[str, Any]:
        try:
            patched = self._api(API_VERSION, KIND).patch(
                name=stack, namespace=self.namespace, body=patch,
                content_type="application/merge-patch+json",
            )  # fmt: skip
        except ApiException as error:
            raise PluginError(api_message(error)) from None
        plain: dict[str, Any] = patched.to_dict()
        return plain

    def start_manage(self, stack: DjangoStack, name: str, arguments: list[str]) -> None:
        """The one-off Job, with the release the web Deployment serves."""
        release = released_from(self._get("apps/v1", "Deployment", stack.names.web))
        if release is None:
            raise PluginError(f"{stack.name} serves no release yet: nothing to run the command")
        body = django.manage_job(
            stack, RenderContext(release=release), name, arguments,
            managed_by=keys.PLUGIN, deadline_seconds=max(int(self.timeout), 30),
        )  # fmt: skip
        try:
            self._api("batch/v1", "Job").create(body=body, namespace=self.namespace)
        except ApiException as error:
            raise PluginError(api_message(error)) from None

    # ---- waiting ------------------------------------------------------------------------

    def wait(self, what: str, probe: Callable[[], T | None]) -> T:
        deadline = time.monotonic() + self.timeout
        while True:
            result = probe()
            if result is not None:
                return result
            if time.monotonic() > deadline:
                raise PluginError(f"gave up after {self.timeout:g} s waiting for {what}")
            time.sleep(POLL_SECONDS)

    def wait_job(self, name: str) -> str:
        """Until Job `name` exists and has finished: "succeeded" or "failed"."""

        def finished() -> str | None:
            state = job_state(self.job(name))
            return state if state in ("succeeded", "failed") else None

        return self.wait(f"Job {name} to finish", finished)
