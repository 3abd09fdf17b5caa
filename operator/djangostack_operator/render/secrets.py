"""The Secrets the operator generates for a stack: names and keys only, never values.

Values are made by the operator at run time (the `secrets` module), once, and never
overwritten (a self-signed certificate is made again for a new host); the renderer only ever
refers to them through secretKeyRef.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from djangostack_operator.render.datastore import data_claim
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
    # Volume claims whose data was made with this Secret's values (the database's password
    # is in its files; Django signed the sessions in it): a new value would not fit them.
    guards: tuple[str, ...] = ()

    @property
    def made_for(self) -> str | None:
        """What the values were made for, recorded on the Secret: a new one needs new values."""
        return self.host


def generated_secrets(stack: DjangoStack) -> list[GeneratedSecret]:
    spec = stack.spec
    names = stack.names
    wanted: list[GeneratedSecret] = []
    database = (data_claim(names.postgres),) if spec.database.managed is not None else ()
    if spec.secret_key_ref is None:
        wanted.append(
            GeneratedSecret(
                names.django_secret, "web", "random", (SECRET_KEY_KEY,), guards=database
            )
        )
    if spec.database.managed is not None:
        wanted.append(
            GeneratedSecret(
                names.postgres_secret, "postgres", "random", (PASSWORD_KEY,), guards=database
            )
        )
        # The superuser's password, which no pod of the app reads. No guard: a stack made
        # before it existed has data without it (its app role is still the superuser).
        wanted.append(
            GeneratedSecret(names.postgres_superuser_secret, "postgres", "random", (PASSWORD_KEY,))
        )
    if spec.redis.managed is not None:
        # Redis keeps its password in its configuration, not in its data: no guard.
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
