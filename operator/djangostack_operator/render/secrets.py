"""The Secrets the operator generates for a stack: names and keys only, never values.

Values are made by the operator at run time (the `secrets` module), once, and never
overwritten; the renderer only ever refers to them through secretKeyRef.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from djangostack_operator.render.pod import PASSWORD_KEY, SECRET_KEY_KEY
from djangostack_operator.spec import DjangoStack


@dataclass(frozen=True)
class GeneratedSecret:
    name: str
    component: str
    # random: each key gets a fresh random token; self-signed-tls: tls.crt/tls.key for `host`.
    kind: Literal["random", "self-signed-tls"]
    keys: tuple[str, ...]
    host: str | None = None


def generated_secrets(stack: DjangoStack) -> list[GeneratedSecret]:
    spec = stack.spec
    names = stack.names
    wanted: list[GeneratedSecret] = []
    if spec.secret_key_ref is None:
        wanted.append(GeneratedSecret(names.django_secret, "web", "random", (SECRET_KEY_KEY,)))
    if spec.database.managed is not None:
        wanted.append(GeneratedSecret(names.postgres_secret, "postgres", "random", (PASSWORD_KEY,)))
    if spec.redis.managed is not None:
        wanted.append(GeneratedSecret(names.redis_secret, "redis", "random", (PASSWORD_KEY,)))
    if spec.ingress is not None and spec.ingress.tls.self_signed:
        wanted.append(
            GeneratedSecret(
                names.tls_secret,
                "ingress",
                "self-signed-tls",
                ("tls.crt", "tls.key"),
                host=spec.ingress.host,
            )
        )
    return wanted
