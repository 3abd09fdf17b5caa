"""The app tiers: gunicorn web (Deployment, Service, PDB, HPA), Celery worker pools, Celery beat,
and the migrations Job that gates every release."""

from __future__ import annotations

from typing import Any

from djangostack_operator import vocabulary as keys
from djangostack_operator.render import meta
from djangostack_operator.render.placement import spread_over_nodes
from djangostack_operator.render.pod import (
    Release,
    RenderContext,
    app_container,
    app_pod_spec,
    app_pod_template,
)
from djangostack_operator.spec import DjangoStack, WorkerPool

WEB = "web"
WORKER = "worker"
BEAT = "beat"
MIGRATIONS = "migrations"
# One-off `manage.py` commands of a user (kubectl djangostack manage).
MANAGE = "manage"
# How long a finished one-off command's Job (and its pod's log) stays for inspection.
MANAGE_TTL_SECONDS = 3600
HTTP_PORT_NAME = "http"
METRICS_PORT_NAME = "metrics"
# Seconds a web pod keeps serving after it is deleted, until every router has dropped it.
WEB_DRAIN_SECONDS = 5


def serving_release(stack: DjangoStack, context: RenderContext) -> Release:
    """What web, workers and beat run: the released one, until a new release is migrated."""
    return context.release or Release(stack.spec.image, stack.spec.release_hash)


def release_annotations(release: Release) -> dict[str, str]:
    """Recorded on each app Deployment: the cluster itself says which release is serving."""
    return {meta.RELEASE_IMAGE: release.image, meta.RELEASE_HASH: release.hash}


def web_command(stack: DjangoStack) -> list[str]:
    if stack.spec.web.command is not None:
        return list(stack.spec.web.command)
    return [
        "gunicorn",
        f"--bind=0.0.0.0:{stack.spec.web.port}",
        f"--bind=0.0.0.0:{stack.spec.web.metrics_port}",
        f"{stack.spec.project_package}.wsgi:application",
    ]


def worker_command(stack: DjangoStack, pool: WorkerPool) -> list[str]:
    if pool.command is not None:
        return list(pool.command)
    return [
        "celery",
        f"--app={stack.spec.project_package}",
        "worker",
        f"--queues={','.join(pool.queues)}",
        f"--concurrency={pool.concurrency}",
        f"--hostname={pool.name}@%h",
        "--loglevel=INFO",
    ]


def beat_command(stack: DjangoStack) -> list[str]:
    if stack.spec.beat.command is not None:
        return list(stack.spec.beat.command)
    # The root filesystem is read-only: schedule state and pid file go to the /tmp volume.
    return [
        "celery",
        f"--app={stack.spec.project_package}",
        "beat",
        "--schedule=/tmp/celerybeat-schedule",
        "--pidfile=/tmp/celerybeat.pid",
        "--loglevel=INFO",
    ]


def _http_probe(path: str, period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": HTTP_PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def web_deployment(stack: DjangoStack, context: RenderContext) -> dict[str, Any]:
    web = stack.spec.web
    container = app_container(
        stack,
        WEB,
        serving_release(stack, context).image,
        web_command(stack),
        web.resources,
        ports=[
            {"name": HTTP_PORT_NAME, "containerPort": web.port, "protocol": "TCP"},
            {"name": METRICS_PORT_NAME, "containerPort": web.metrics_port, "protocol": "TCP"},
        ],
        # Startup allows two minutes to boot; liveness never touches the database (/healthz);
        # readiness takes a pod out of the Service when a dependency fails (/readyz).
        startupProbe=_http_probe("/healthz", period=2, timeout=2, failures=60),
        livenessProbe=_http_probe("/healthz", period=10, timeout=2, failures=3),
        readinessProbe=_http_probe("/readyz", period=5, timeout=3, failures=3),
        # A deleted pod leaves the Service's endpoints at once, but Ingress controllers and
        # kube-proxy learn it a moment later and keep sending requests: gunicorn only gets
        # SIGTERM (and stops accepting) once they have stopped (the kubelet's own sleep, so
        # the image needs no shell).
        lifecycle={"preStop": {"sleep": {"seconds": WEB_DRAIN_SECONDS}}},
    )
    selector = meta.selector_labels(stack, WEB)
    pod_spec = app_pod_spec(
        stack,
        [container],
        # The drain, then gunicorn's graceful_timeout (25 s) to finish requests in flight.
        terminationGracePeriodSeconds=WEB_DRAIN_SECONDS + 30,
        topologySpreadConstraints=spread_over_nodes(selector),
    )
    spec: dict[str, Any] = {}
    if web.autoscaling is None:
        # Under an HPA the replica count is the HPA's field; leaving it out of the applied
        # configuration means server-side apply never fights over it.
        spec["replicas"] = web.replicas
    spec |= {
        "revisionHistoryLimit": 5,
        "minReadySeconds": web.min_ready_seconds,
        "selector": {"matchLabels": selector},
        # Zero-downtime rollout: a new pod must be available before an old one goes.
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
        },
        "template": app_pod_template(stack, context, WEB, pod_spec, web.placement),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.metadata(
            stack,
            stack.names.web,
            WEB,
            annotations=release_annotations(serving_release(stack, context)),
        ),
        "spec": spec,
    }


def web_service(stack: DjangoStack) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(stack, stack.names.web, WEB),
        "spec": {
            "type": "ClusterIP",
            "selector": meta.selector_labels(stack, WEB),
            "ports": [
                {
                    "name": HTTP_PORT_NAME,
                    "port": 80,
                    "targetPort": HTTP_PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def web_min_replicas(stack: DjangoStack) -> int:
    web = stack.spec.web
    return web.autoscaling.min_replicas if web.autoscaling is not None else web.replicas


def web_pdb(stack: DjangoStack) -> dict[str, Any] | None:
    """A PodDisruptionBudget, only while the web tier has 2+ replicas.

    With a single replica any budget either protects nothing or blocks node drains forever.
    """
    pdb = stack.spec.web.pdb
    if not pdb.enabled or web_min_replicas(stack) < 2:
        return None
    return _pdb(
        stack,
        stack.names.web,
        WEB,
        meta.selector_labels(stack, WEB),
        minAvailable=pdb.min_available,
    )


def _pdb(
    stack: DjangoStack,
    name: str,
    component: str,
    selector: dict[str, str],
    extra_labels: dict[str, str] | None = None,
    **budget: int,
) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta.metadata(stack, name, component, extra_labels=extra_labels),
        "spec": {
            **budget,
            "selector": {"matchLabels": selector},
            # A pod that is not ready serves nothing: evicting it never costs availability,
            # and a crash-looping pod must not block a node drain.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def web_hpa(stack: DjangoStack) -> dict[str, Any] | None:
    autoscaling = stack.spec.web.autoscaling
    if autoscaling is None:
        return None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta.metadata(stack, stack.names.web, WEB),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": stack.names.web,
            },
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": autoscaling.target_cpu_utilization,
                        },
                    },
                }
            ],
        },
    }


def worker_deployments(stack: DjangoStack, context: RenderContext) -> list[dict[str, Any]]:
    return [worker_deployment(stack, context, pool) for pool in stack.spec.workers]


def worker_pdbs(stack: DjangoStack) -> list[dict[str, Any]]:
    """A PodDisruptionBudget per pool that asks for one, while it has 2+ replicas."""
    return [
        _pdb(
            stack,
            stack.names.worker(pool.name),
            WORKER,
            _pool_selector(stack, pool),
            extra_labels={meta.POOL_LABEL: pool.name},
            maxUnavailable=pool.pdb.max_unavailable,
        )
        for pool in stack.spec.workers
        if pool.pdb.enabled and pool.replicas >= 2
    ]


def _pool_selector(stack: DjangoStack, pool: WorkerPool) -> dict[str, str]:
    return {**meta.selector_labels(stack, WORKER), meta.POOL_LABEL: pool.name}


# Run by the worker's liveness probe with the app's own Python: pings this pod's worker
# (named <pool>@<hostname> by the default command) and nothing else. Arguments: the Celery
# app, the pool, seconds to wait for the answer.
WORKER_PING = (
    "import socket, sys; from celery.app.utils import find_app; "
    "node = sys.argv[2] + '@' + socket.gethostname(); "
    "replies = find_app(sys.argv[1]).control.ping(destination=[node], timeout=float(sys.argv[3])); "
    "sys.exit(0 if any(node in reply for reply in replies) else 1)"
)


def worker_liveness_probe(stack: DjangoStack, pool: WorkerPool) -> dict[str, Any] | None:
    """A ping of the pod's own worker; None with a custom command (its node name is the
    user's) or when switched off."""
    liveness = pool.liveness
    if not liveness.enabled or pool.command is not None:
        return None
    wait = liveness.timeout_seconds / 2
    return {
        "exec": {
            "command": [
                "python", "-c", WORKER_PING, stack.spec.project_package, pool.name, f"{wait:g}"
            ]
        },
        "initialDelaySeconds": liveness.period_seconds,
        "periodSeconds": liveness.period_seconds,
        "timeoutSeconds": liveness.timeout_seconds,
        "failureThreshold": liveness.failure_threshold,
    }  # fmt: skip


def worker_deployment(
    stack: DjangoStack, context: RenderContext, pool: WorkerPool
) -> dict[str, Any]:
    pool_label = {meta.POOL_LABEL: pool.name}
    probe = worker_liveness_probe(stack, pool)
    container = app_container(
        stack,
        WORKER,
        serving_release(stack, context).image,
        worker_command(stack, pool),
        pool.resources,
        **({"livenessProbe": probe} if probe is not None else {}),
    )
    # Celery finishes the tasks it is running on SIGTERM (warm shutdown); give it time.
    pod_spec = app_pod_spec(
        stack,
        [container],
        terminationGracePeriodSeconds=60,
        topologySpreadConstraints=spread_over_nodes(_pool_selector(stack, pool)),
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.metadata(
            stack,
            stack.names.worker(pool.name),
            WORKER,
            extra_labels=pool_label,
            annotations=release_annotations(serving_release(stack, context)),
        ),
        "spec": {
            "replicas": pool.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": _pool_selector(stack, pool)},
            "template": app_pod_template(
                stack, context, WORKER, pod_spec, pool.placement, extra_labels=pool_label
            ),
        },
    }


def beat_deployment(stack: DjangoStack, context: RenderContext) -> dict[str, Any]:
    """Celery beat: 0 or 1 replica and Recreate, so two schedulers never run at once."""
    beat = stack.spec.beat
    container = app_container(
        stack, BEAT, serving_release(stack, context).image, beat_command(stack), beat.resources
    )
    pod_spec = app_pod_spec(stack, [container], terminationGracePeriodSeconds=30)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.metadata(
            stack,
            stack.names.beat,
            BEAT,
            annotations=release_annotations(serving_release(stack, context)),
        ),
        "spec": {
            "replicas": 1 if beat.enabled else 0,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": meta.selector_labels(stack, BEAT)},
            "strategy": {"type": "Recreate"},
            "template": app_pod_template(stack, context, BEAT, pod_spec, beat.placement),
        },
    }


def migrations_job(stack: DjangoStack, context: RenderContext) -> dict[str, Any] | None:
    """The Job that migrates the database for spec.image; its name identifies the release.

    It always runs the NEW image (spec.image), never the serving one. It is not retried
    (backoffLimit 0): a failed migration needs a person, and another spec change makes a
    new Job with a new name.
    """
    migrations = stack.spec.migrations
    if not migrations.enabled:
        return None
    container = app_container(
        stack,
        "migrate",
        stack.spec.image,
        list(migrations.command),
        stack.spec.web.resources,
    )
    pod_spec = app_pod_spec(stack, [container], restartPolicy="Never")
    template = app_pod_template(stack, context, MIGRATIONS, pod_spec, migrations.placement)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta.metadata(
            stack,
            stack.names.migrations_job(stack.spec.release_hash),
            MIGRATIONS,
            annotations=release_annotations(Release(stack.spec.image, stack.spec.release_hash)),
        ),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": migrations.timeout_seconds,
            "template": template,
        },
    }
    # The release it migrates, not the one serving.
    return meta.with_version(job, stack.spec.image)


def manage_job(
    stack: DjangoStack,
    context: RenderContext,
    name: str,
    arguments: list[str],
    *,
    managed_by: str,
    deadline_seconds: int,
) -> dict[str, Any]:
    """A user's one-off `manage.py` command as a Job: the serving release's image and
    environment, placed like the migrations Job, never retried.

    Not a child the operator reconciles: `managed_by` (the tool that asked) is its manager,
    so the operator's watches never see it and never prune it; the stack owns it without
    being its controller, so deleting the stack takes it along.
    """
    release = serving_release(stack, context)
    container = app_container(
        stack, MANAGE, release.image, ["python", "manage.py", *arguments], stack.spec.web.resources
    )
    pod_spec = app_pod_spec(stack, [container], restartPolicy="Never")
    template = app_pod_template(stack, context, MANAGE, pod_spec, stack.spec.migrations.placement)
    template["metadata"]["labels"][keys.MANAGED_BY] = managed_by
    metadata = meta.metadata(stack, name, MANAGE, annotations=release_annotations(release))
    metadata["labels"][keys.MANAGED_BY] = managed_by
    metadata["ownerReferences"][0]["controller"] = False
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline_seconds,
            "ttlSecondsAfterFinished": MANAGE_TTL_SECONDS,
            "template": template,
        },
    }
    return meta.with_version(job, release.image)
