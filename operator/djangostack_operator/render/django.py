"""The app tiers: gunicorn web (Deployment, Service, PDB, HPA), Celery worker pools, Celery beat,
and the migrations Job that gates every release."""

from __future__ import annotations

from typing import Any

from djangostack_operator.render import meta
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
        topologySpreadConstraints=[
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector},
            }
        ],
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
        "template": app_pod_template(stack, context, WEB, pod_spec),
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
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta.metadata(stack, stack.names.web, WEB),
        "spec": {
            "minAvailable": pdb.min_available,
            "selector": {"matchLabels": meta.selector_labels(stack, WEB)},
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


def worker_deployment(
    stack: DjangoStack, context: RenderContext, pool: WorkerPool
) -> dict[str, Any]:
    pool_label = {meta.POOL_LABEL: pool.name}
    container = app_container(
        stack,
        WORKER,
        serving_release(stack, context).image,
        worker_command(stack, pool),
        pool.resources,
    )
    # Celery finishes the tasks it is running on SIGTERM (warm shutdown); give it time.
    pod_spec = app_pod_spec(stack, [container], terminationGracePeriodSeconds=60)
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
            "selector": {"matchLabels": {**meta.selector_labels(stack, WORKER), **pool_label}},
            "template": app_pod_template(stack, context, WORKER, pod_spec, extra_labels=pool_label),
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
            "template": app_pod_template(stack, context, BEAT, pod_spec),
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
    template = app_pod_template(stack, context, MIGRATIONS, pod_spec)
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
