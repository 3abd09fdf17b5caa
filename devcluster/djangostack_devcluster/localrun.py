"""From rendered pod specs to local processes: the pure half of `make app-up`.

The operator's pod specs are the contract between it and the app image. To prove that they
start a working app without a container engine, we run exactly their commands and
environment as local processes. What a kubelet would do is done here, and only that:
- env: `value` with $(VAR) expansion (Kubernetes rules), `secretKeyRef` from local values;
- command/args: the same $(VAR) expansion;
- the pod's network: Service names of the data services point at the local servers, and a
  bind to 0.0.0.0 becomes 127.0.0.1;
- emptyDir mounts (/tmp): a folder per process, also given as TMPDIR;
- the image's working directory: the app folder.
Anything else the specs ask for (envFrom, configMapKeyRef, ...) is refused with its name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COMPONENT = "app.kubernetes.io/component"
APP_TIERS = ("web", "worker", "beat")
LOOPBACK = "127.0.0.1"


class LocalRunError(ValueError):
    """A pod spec asks for something the local run cannot provide; names the field."""


@dataclass(frozen=True)
class DatabaseAccount:
    user: str
    password: str
    name: str


@dataclass(frozen=True)
class LocalProcess:
    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    # Local folders standing in for the pod's emptyDir volumes (created before the start).
    folders: tuple[Path, ...]
    http_port: int | None = None


@dataclass(frozen=True)
class LocalPlan:
    database: DatabaseAccount
    redis_password: str
    migrate: LocalProcess
    services: tuple[LocalProcess, ...]


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined names are replaced, `$$` is a literal `$`,
    anything else (unknown names, an unclosed `$(`) stays as written."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        following = text[index + 1] if index + 1 < len(text) else ""
        if char == "$" and following == "$":
            out.append("$")
            index += 2
        elif char == "$" and following == "(":
            end = text.find(")", index + 2)
            if end == -1:
                out.append(text[index:])
                break
            name = text[index + 2 : end]
            out.append(env[name] if name in env else text[index : end + 1])
            index = end + 1
        else:
            out.append(char)
            index += 1
    return "".join(out)


def resolve_env(
    container: Mapping[str, Any], secrets: Mapping[tuple[str, str], str]
) -> dict[str, str]:
    """The container's environment as the kubelet would give it, in declaration order."""
    name = container.get("name", "?")
    if container.get("envFrom"):
        raise LocalRunError(f"container {name}: envFrom is not supported by the local run")
    env: dict[str, str] = {}
    for index, entry in enumerate(container.get("env", [])):
        where = f"container {name}: env[{index}] ({entry['name']})"
        if "valueFrom" in entry:
            source = entry["valueFrom"]
            ref = source.get("secretKeyRef")
            if ref is None:
                raise LocalRunError(f"{where}: only secretKeyRef is supported, not {list(source)}")
            key = (ref["name"], ref["key"])
            if key not in secrets:
                if ref.get("optional"):
                    continue
                raise LocalRunError(f"{where}: no local value for Secret {key[0]} key {key[1]}")
            env[entry["name"]] = secrets[key]
        else:
            env[entry["name"]] = expand(entry.get("value", ""), env)
    return env


def service_rewrites(
    objects: Sequence[Mapping[str, Any]], addresses: Mapping[str, tuple[str, int]]
) -> list[tuple[re.Pattern[str], str]]:
    """host:port of every Service of a component in `addresses` -> the local server."""
    rewrites = []
    for obj in objects:
        component = obj["metadata"].get("labels", {}).get(COMPONENT)
        if obj["kind"] != "Service" or component not in addresses:
            continue
        name, namespace = obj["metadata"]["name"], obj["metadata"]["namespace"]
        host, port = addresses[component]
        dns = re.escape(name) + rf"(?:\.{re.escape(namespace)}(?:\.svc(?:\.cluster\.local)?)?)?"
        for service_port in obj["spec"]["ports"]:
            pattern = re.compile(rf"(?<![\w.-]){dns}:{service_port['port']}(?![\w])")
            rewrites.append((pattern, f"{host}:{port}"))
    return rewrites


def _rewrite(text: str, rewrites: Sequence[tuple[re.Pattern[str], str]]) -> str:
    for pattern, replacement in rewrites:
        text = pattern.sub(replacement, text)
    return text


def _mount_rewrites(
    pod: Mapping[str, Any], container: Mapping[str, Any], root: Path
) -> tuple[list[tuple[re.Pattern[str], str]], dict[str, Path]]:
    empty_dirs = {volume["name"] for volume in pod.get("volumes", []) if "emptyDir" in volume}
    rewrites, folders = [], {}
    for mount in container.get("volumeMounts", []):
        if mount["name"] not in empty_dirs:
            raise LocalRunError(
                f"container {container['name']}: volume {mount['name']} is not an emptyDir;"
                " the local run only provides emptyDir volumes"
            )
        folder = root / mount["name"]
        folders[mount["mountPath"]] = folder
        pattern = re.compile(rf"(?<![\w.-]){re.escape(mount['mountPath'])}(?=/|$)")
        rewrites.append((pattern, str(folder)))
    return rewrites, folders


BIND_ALL = re.compile(r"^(--bind=|-b=?)0\.0\.0\.0:")


def local_process(
    name: str,
    obj: Mapping[str, Any],
    secrets: Mapping[tuple[str, str], str],
    rewrites: Sequence[tuple[re.Pattern[str], str]],
    root: Path,
) -> LocalProcess:
    """The first container of `obj`'s pod template as a local process."""
    pod = obj["spec"]["template"]["spec"]
    container = pod["containers"][0]
    if not container.get("command"):
        raise LocalRunError(
            f"container {container['name']}: no command; the local run cannot know the image's"
            " entrypoint"
        )
    mounts, folders = _mount_rewrites(pod, container, root / name)
    env = {
        key: _rewrite(_rewrite(value, rewrites), mounts)
        for key, value in resolve_env(container, secrets).items()
    }
    argv = [
        BIND_ALL.sub(rf"\g<1>{LOOPBACK}:", _rewrite(expand(arg, env), mounts))
        for arg in [*container["command"], *container.get("args", [])]
    ]
    if "/tmp" in folders:
        env["TMPDIR"] = str(folders["/tmp"])
    ports = [port["containerPort"] for port in container.get("ports", [])]
    return LocalProcess(
        name=name,
        argv=tuple(argv),
        env=env,
        folders=tuple(folders.values()),
        http_port=ports[0] if ports else None,
    )


def _by_component(
    objects: Sequence[Mapping[str, Any]], kind: str, component: str
) -> list[Mapping[str, Any]]:
    return [
        obj
        for obj in objects
        if obj["kind"] == kind and obj["metadata"].get("labels", {}).get(COMPONENT) == component
    ]


def _one(objects: Sequence[Mapping[str, Any]], kind: str, component: str) -> Mapping[str, Any]:
    found = _by_component(objects, kind, component)
    if len(found) != 1:
        raise LocalRunError(f"expected one {kind} of component {component}, found {len(found)}")
    return found[0]


def _data_service_env(
    objects: Sequence[Mapping[str, Any]],
    component: str,
    secrets: Mapping[tuple[str, str], str],
) -> dict[str, str]:
    """The environment of the managed data service's (StatefulSet's) container."""
    pod = _one(objects, "StatefulSet", component)["spec"]["template"]["spec"]
    return resolve_env(pod["containers"][0], secrets)


def database_account(
    objects: Sequence[Mapping[str, Any]], secrets: Mapping[tuple[str, str], str]
) -> DatabaseAccount:
    """The app's role, its password and database, which the managed PostgreSQL pod creates
    (postgres-app-role.sh) beside its superuser."""
    env = _data_service_env(objects, "postgres", secrets)
    return DatabaseAccount(
        env["DJANGOSTACK_APP_USER"],
        env["DJANGOSTACK_APP_PASSWORD"],
        env["DJANGOSTACK_APP_DATABASE"],
    )


def redis_password(
    objects: Sequence[Mapping[str, Any]], secrets: Mapping[tuple[str, str], str]
) -> str:
    return _data_service_env(objects, "redis", secrets)["REDISCLI_AUTH"]


def plan(
    objects: Sequence[Mapping[str, Any]],
    secrets: Mapping[tuple[str, str], str],
    addresses: Mapping[str, tuple[str, int]],
    root: Path,
) -> LocalPlan:
    """The local processes of a rendered stack with managed PostgreSQL and Redis.

    `addresses` maps the components "postgres" and "redis" to the local servers; `root` is
    where the per-process folders go."""
    rewrites = service_rewrites(objects, addresses)
    tiers = [
        (obj["metadata"]["name"], obj)
        for component in APP_TIERS
        for obj in _by_component(objects, "Deployment", component)
    ]
    stack = _one(objects, "Job", "migrations")["metadata"]["labels"]["app.kubernetes.io/instance"]
    return LocalPlan(
        database=database_account(objects, secrets),
        redis_password=redis_password(objects, secrets),
        migrate=local_process(
            "migrate", _one(objects, "Job", "migrations"), secrets, rewrites, root
        ),
        services=tuple(
            local_process(name.removeprefix(f"{stack}-"), obj, secrets, rewrites, root)
            for name, obj in tiers
        ),
    )
