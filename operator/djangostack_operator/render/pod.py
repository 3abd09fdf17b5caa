"""What every pod of a stack shares: security contexts, the container contract's environment,
resources, scratch volumes, and the checksum that rolls pods when their configuration changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from djangostack_operator import vocabulary as keys
from djangostack_operator.render import meta
from djangostack_operator.render.placement import placed
from djangostack_operator.spec import DjangoStack, Placement, Resources

SECRET_KEY_KEY = "secret-key"
PASSWORD_KEY = "password"
POSTGRES_PORT = 5432
REDIS_PORT = 6379
# The image of the release a container runs (the container contract; the app reports it).
RELEASE_ENV = "DJANGOSTACK_RELEASE"
# The port web serves /metrics on (and nothing else): spec.web.metricsPort.
METRICS_PORT_ENV = "DJANGOSTACK_METRICS_PORT"
# UID/GID the official postgres and redis images run their servers as.
DATA_SERVICE_UID = 999


def tmp_volume() -> dict[str, Any]:
    """Scratch space: every root filesystem is read-only."""
    return {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}


def tmp_mount() -> dict[str, Any]:
    return {"name": "tmp", "mountPath": "/tmp"}


@dataclass(frozen=True)
class Release:
    """What web, workers and beat run: an image and the release hash it was migrated under."""

    image: str
    hash: str


@dataclass(frozen=True)
class RenderContext:
    """What the renderer needs besides the stack; the operator observes it, tests set it.

    release: what web, workers and beat run. None means the stack's own image and release
    hash (offline rendering, or a release whose migrations have succeeded).
    config_digests: digest of the content of each referenced Secret/ConfigMap, keyed
    "Secret/name" or "ConfigMap/name"; pods roll when one changes.
    """

    release: Release | None = None
    config_digests: Mapping[str, str] = field(default_factory=dict)


def pod_security_context(uid: int | None = None) -> dict[str, Any]:
    """Pod Security "restricted": non-root and the runtime's default seccomp profile."""
    context: dict[str, Any] = {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if uid is not None:
        context |= {"runAsUser": uid, "runAsGroup": uid, "fsGroup": uid}
    return context


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
    }


def resource_requirements(resources: Resources) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, values in (("requests", resources.requests), ("limits", resources.limits)):
        entries = values.model_dump(exclude_none=True)
        if entries:
            result[name] = entries
    return result


def secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def service_host(stack: DjangoStack, service: str) -> str:
    return f"{service}.{stack.namespace}.svc"


def allowed_hosts(stack: DjangoStack) -> list[str]:
    """Hosts Django answers: the Ingress host and the web Service's in-cluster names."""
    web = stack.names.web
    hosts = [web, service_host(stack, web), f"{service_host(stack, web)}.cluster.local"]
    if stack.spec.ingress is not None:
        hosts.insert(0, stack.spec.ingress.host)
    return hosts


def contract_env(stack: DjangoStack, image: str) -> list[dict[str, Any]]:
    """The container contract's environment (docs/api.md), before the user's own env.

    `image` is the release the container runs (during a release, the old one for the tiers
    still serving it), so the app can say which release answered.

    Passwords only ever come from secretKeyRef; URLs that embed them use Kubernetes'
    dependent-variable expansion `$(VAR)` of a variable defined earlier in the list.
    """
    spec = stack.spec
    names = stack.names
    env: list[dict[str, Any]] = [
        {"name": "DJANGO_SETTINGS_MODULE", "value": spec.settings_module},
        {"name": RELEASE_ENV, "value": image},
        {"name": METRICS_PORT_ENV, "value": str(spec.web.metrics_port)},
    ]
    if spec.secret_key_ref is not None:
        env.append(
            secret_env("DJANGO_SECRET_KEY", spec.secret_key_ref.name, spec.secret_key_ref.key)
        )
    else:
        env.append(secret_env("DJANGO_SECRET_KEY", names.django_secret, SECRET_KEY_KEY))
    env.append({"name": "DJANGO_ALLOWED_HOSTS", "value": ",".join(allowed_hosts(stack))})
    if spec.ingress is not None:
        env.append({"name": "DJANGO_CSRF_TRUSTED_ORIGINS", "value": spec.ingress.url})

    database = spec.database
    if database.managed is not None:
        host = service_host(stack, names.postgres)
        env.append(secret_env("DATABASE_PASSWORD", names.postgres_secret, PASSWORD_KEY))
        url = (
            f"postgres://{database.managed.username}:$(DATABASE_PASSWORD)@{host}:{POSTGRES_PORT}"
            f"/{database.managed.database_name}"
        )
        env.append({"name": "DATABASE_URL", "value": url})
    elif database.external is not None:
        ref = database.external.url_secret_ref
        env.append(secret_env("DATABASE_URL", ref.name, ref.key))

    redis = spec.redis
    if redis.managed is not None:
        host = service_host(stack, names.redis)
        env.append(secret_env("REDIS_PASSWORD", names.redis_secret, PASSWORD_KEY))
        env.append(
            {"name": "REDIS_URL", "value": f"redis://:$(REDIS_PASSWORD)@{host}:{REDIS_PORT}/0"}
        )
    elif redis.external is not None:
        ref = redis.external.url_secret_ref
        env.append(secret_env("REDIS_URL", ref.name, ref.key))
    env.append({"name": "CELERY_BROKER_URL", "value": "$(REDIS_URL)"})
    return env


def app_env(stack: DjangoStack, image: str) -> list[dict[str, Any]]:
    """Contract env merged with the user's: a user entry replaces the one of the same name."""
    env = contract_env(stack, image)
    positions = {entry["name"]: index for index, entry in enumerate(env)}
    for user_entry in stack.spec.env:
        entry = user_entry.model_dump(by_alias=True, exclude_none=True)
        if entry["name"] in positions:
            env[positions[entry["name"]]] = entry
        else:
            positions[entry["name"]] = len(env)
            env.append(entry)
    return env


def app_env_from(stack: DjangoStack) -> list[dict[str, Any]]:
    return [source.model_dump(by_alias=True, exclude_none=True) for source in stack.spec.env_from]


def referenced_config(stack: DjangoStack) -> list[str]:
    """Secrets and ConfigMaps the app pods read, as "Kind/name", sorted and unique.

    The operator digests their content into RenderContext.config_digests, so a change to
    one rolls the pods.
    """
    refs: set[str] = set()
    spec = stack.spec
    if spec.secret_key_ref is not None:
        refs.add(f"Secret/{spec.secret_key_ref.name}")
    for external in (spec.database.external, spec.redis.external):
        if external is not None:
            refs.add(f"Secret/{external.url_secret_ref.name}")
    for entry in spec.env:
        if entry.value_from is not None:
            if entry.value_from.secret_key_ref is not None:
                refs.add(f"Secret/{entry.value_from.secret_key_ref.name}")
            if entry.value_from.config_map_key_ref is not None:
                refs.add(f"ConfigMap/{entry.value_from.config_map_key_ref.name}")
    for source in spec.env_from:
        if source.secret_ref is not None:
            refs.add(f"Secret/{source.secret_ref.name}")
        if source.config_map_ref is not None:
            refs.add(f"ConfigMap/{source.config_map_ref.name}")
    return sorted(refs)


def config_checksum(stack: DjangoStack, context: RenderContext) -> str:
    digests = {ref: context.config_digests.get(ref, "") for ref in referenced_config(stack)}
    return meta.checksum(digests)


def app_container(
    stack: DjangoStack,
    name: str,
    image: str,
    command: list[str],
    resources: Resources,
    **extra: Any,
) -> dict[str, Any]:
    """A container running the app image with the contract's environment."""
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": stack.spec.image_pull_policy,
        "command": list(command),
        "env": app_env(stack, image),
    }
    env_from = app_env_from(stack)
    if env_from:
        container["envFrom"] = env_from
    container |= extra
    container["resources"] = resource_requirements(resources)
    container["securityContext"] = container_security_context()
    container["volumeMounts"] = [tmp_mount()]
    return container


def app_pod_spec(
    stack: DjangoStack, containers: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """Pod spec for app containers: restricted, no API token (the app never calls the API)."""
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "containers": containers,
        "volumes": [tmp_volume()],
    }
    if stack.spec.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": ref.name} for ref in stack.spec.image_pull_secrets]
    spec |= extra
    return spec


def app_pod_template(
    stack: DjangoStack,
    context: RenderContext,
    component: str,
    pod_spec: dict[str, Any],
    placement: Placement,
    *,
    extra_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The pod template of an app tier or Job, placed where its tier's placement says."""
    annotations = {
        **stack.spec.pod_annotations,
        meta.CONFIG_CHECKSUM: config_checksum(stack, context),
    }
    template = {
        "metadata": {
            "labels": {
                **meta.labels(stack, component),
                **(extra_labels or {}),
                # What the pod runs, so `kubectl get pods -L app.kubernetes.io/version`
                # shows old and new release side by side during a rollout.
                keys.VERSION: meta.version_label(pod_spec["containers"][0]["image"]),
            },
            "annotations": annotations,
        },
        "spec": pod_spec,
    }
    selector = {**meta.selector_labels(stack, component), **(extra_labels or {})}
    return placed(template, stack.spec.placement_of(placement), selector)
