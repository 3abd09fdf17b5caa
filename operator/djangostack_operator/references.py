"""Check, purely, that every Secret and ConfigMap a stack refers to exists (with its key).

A stack that passes the schema can still be unusable: its external database Secret may not
exist. Each problem found becomes a Stalled reason; nothing is applied until it is fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from djangostack_operator.render.ingress import tls_secret_name
from djangostack_operator.render.pod import referenced_config
from djangostack_operator.render.secrets import generated_secrets
from djangostack_operator.spec import DjangoStack
from djangostack_operator.status_types import Reason


def missing_reason(kind: str, key_only: bool = False) -> str:
    """The Stalled reason of a missing Secret or ConfigMap (SecretMissing), or of a key it
    lacks (SecretKeyMissing)."""
    return f"{kind}{'Key' if key_only else ''}Missing"


SECRET_MISSING = missing_reason("Secret")
SECRET_KEY_MISSING = missing_reason("Secret", key_only=True)
# Problems that go away when a Secret appears or changes (which no watch reports).
WAITING_FOR_SECRET = frozenset({SECRET_MISSING, SECRET_KEY_MISSING, Reason.SECRET_LOST})


@dataclass(frozen=True)
class ObjectInfo:
    """What the operator keeps of a Secret or ConfigMap: keys and a content digest, no values;
    for the Secrets it generates, what they were made for and their controlling owner."""

    keys: frozenset[str]
    digest: str
    made_for: str | None = None  # the MADE_FOR annotation
    owner: str | None = None  # uid of the controller ownerReference
    ours: bool = False  # labelled as made by the operator (not a Secret the user made)
    # Of a Secret with a `tls.crt`: when its certificate expires (vocabulary.TIME_FORMAT),
    # "" when `tls.crt` holds no readable certificate; None: no `tls.crt` at all.
    not_after: str | None = None


def secret_names(stack: DjangoStack) -> list[str]:
    """Every Secret a reconcile of the stack looks at: the ones it generates, the Ingress's
    certificate, and every one the spec refers to (optional ones too: their content rolls the
    pods). The operator reads exactly these, by name (secretlookup.py)."""
    names = {wanted.name for wanted in generated_secrets(stack)}
    names.update(
        ref.partition("/")[2] for ref in referenced_config(stack) if ref.startswith("Secret/")
    )
    tls = tls_secret_name(stack)
    if tls is not None:
        names.add(tls)
    return sorted(names)


def missing_references(
    stack: DjangoStack,
    secrets: Mapping[str, ObjectInfo],
    config_maps: Mapping[str, ObjectInfo],
) -> list[tuple[str, str]]:
    """(reason, message) for each reference that cannot be resolved."""
    spec = stack.spec
    problems: list[tuple[str, str]] = []

    def need(
        kind: str, found: Mapping[str, ObjectInfo], name: str, key: str | None, where: str
    ) -> None:
        info = found.get(name)
        if info is None:
            problems.append((missing_reason(kind), f"{kind} {name} ({where}) does not exist"))
        elif key is not None and key not in info.keys:
            problems.append(
                (missing_reason(kind, key_only=True), f"{kind} {name} ({where}) has no key {key}")
            )

    if spec.secret_key_ref is not None:
        key_ref = spec.secret_key_ref
        need("Secret", secrets, key_ref.name, key_ref.key, "spec.secretKeyRef")
    for where, external in (("database", spec.database.external), ("redis", spec.redis.external)):
        if external is not None:
            url = external.url_secret_ref
            need("Secret", secrets, url.name, url.key, f"spec.{where}.external.urlSecretRef")
    for index, entry in enumerate(spec.env):
        source = entry.value_from
        if source is None:
            continue
        where = f"spec.env[{index}]"
        if source.secret_key_ref is not None and not source.secret_key_ref.optional:
            need("Secret", secrets, source.secret_key_ref.name, source.secret_key_ref.key, where)
        if source.config_map_key_ref is not None and not source.config_map_key_ref.optional:
            map_ref = source.config_map_key_ref
            need("ConfigMap", config_maps, map_ref.name, map_ref.key, where)
    for index, env_from in enumerate(spec.env_from):
        where = f"spec.envFrom[{index}]"
        if env_from.secret_ref is not None and not env_from.secret_ref.optional:
            need("Secret", secrets, env_from.secret_ref.name, None, where)
        if env_from.config_map_ref is not None and not env_from.config_map_ref.optional:
            need("ConfigMap", config_maps, env_from.config_map_ref.name, None, where)
    return problems


def config_digests(
    refs: list[str],
    secrets: Mapping[str, ObjectInfo],
    config_maps: Mapping[str, ObjectInfo],
) -> dict[str, str]:
    """Digest of each "Kind/name" reference that exists."""
    digests: dict[str, str] = {}
    for ref in refs:
        kind, _, name = ref.partition("/")
        info = (secrets if kind == "Secret" else config_maps).get(name)
        if info is not None:
            digests[ref] = info.digest
    return digests
