"""Secrets are read by name only, kept as keys and a keyed digest, and only while named."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from djangostack_operator.cache import config_info
from djangostack_operator.decide import decide
from djangostack_operator.kube import ApiError
from djangostack_operator.references import ObjectInfo, secret_names
from djangostack_operator.secretlookup import SecretLookup
from djangostack_operator.spec import DjangoStack
from djangostack_operator.validation import parse_stack
from tests.factories import deep_merge, make_stack, sample, stack_object

STACK = ("shop-ns", "shop")


def secret(name: str, uid: str = "uid-1", **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": uid}, "data": data}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Server:
    """The API server's Secrets, answering GET by name and counting the reads."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.reads: list[str] = []
        self.refuse: ApiError | None = None

    def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self.refuse is not None:
            raise self.refuse
        self.reads.append(name)
        return self.secrets.get((namespace, name))


def lookup(server: Server, clock: Clock) -> SecretLookup:
    return SecretLookup(server.read, lambda body: config_info("Secret", body), 15.0, clock)


def test_secrets_are_read_by_name_and_not_again_while_fresh() -> None:
    server, clock = Server(), Clock()
    server.secrets[("shop-ns", "db")] = secret("db", password="aHVudGVyMg==")
    secrets = lookup(server, clock)
    found = secrets.read(STACK, ["db", "absent"])
    assert set(found) == {"db"} and found["db"].keys == {"password"}
    assert sorted(server.reads) == ["absent", "db"]
    clock.now += 14
    secrets.read(STACK, ["db", "absent"])
    assert len(server.reads) == 2  # both answers, present and absent, still fresh
    clock.now += 1
    secrets.read(STACK, ["db", "absent"])
    assert len(server.reads) == 4
    secrets.read(STACK, ["db"], generation=2)  # the stack's spec changed
    assert len(server.reads) == 5


def test_a_secret_the_operator_wrote_is_read_again_at_once() -> None:
    server, clock = Server(), Clock()
    secrets = lookup(server, clock)
    assert secrets.read(STACK, ["shop-django"]) == {}
    server.secrets[("shop-ns", "shop-django")] = secret("shop-django", secret_key="eA==")
    secrets.forget("shop-ns", "shop-django")
    assert set(secrets.read(STACK, ["shop-django"])) == {"shop-django"}


def test_nothing_is_kept_of_a_secret_no_stack_names() -> None:
    server, clock = Server(), Clock()
    for name in ("a", "b", "shared"):
        server.secrets[("shop-ns", name)] = secret(name, token="dG9rZW4=")
    secrets = lookup(server, clock)
    secrets.read(STACK, ["a", "shared"])
    secrets.read(("shop-ns", "blog"), ["b", "shared"])
    secrets.read(STACK, ["shared"])  # the shop's spec no longer names a
    assert secrets.held() == [("shop-ns", "b"), ("shop-ns", "shared")]
    secrets.drop_stack(("shop-ns", "blog"))
    assert secrets.held() == [("shop-ns", "shared")]
    secrets.drop_stack(STACK)
    assert secrets.held() == []


def test_no_value_is_kept_and_the_digest_is_keyed_by_the_secrets_uid() -> None:
    server, clock = Server(), Clock()
    server.secrets[("shop-ns", "db")] = secret("db", password="aHVudGVyMg==")
    kept = lookup(server, clock).read(STACK, ["db"])["db"]
    assert "aHVudGVyMg==" not in repr(kept)
    # The digest (which reaches the pods' checksum annotation) cannot be recomputed from a
    # guessed value without the uid, and a new Secret of the same content digests anew.
    guessed = hashlib.sha256(json.dumps({"password": "aHVudGVyMg=="}).encode()).hexdigest()
    assert kept.digest != guessed
    same = config_info("Secret", secret("db", password="aHVudGVyMg=="))
    assert same.digest == kept.digest
    assert config_info("Secret", secret("db", "uid-2", password="aHVudGVyMg==")).digest != (
        kept.digest
    )


def test_a_refused_read_reaches_the_caller() -> None:
    server, clock = Server(), Clock()
    server.refuse = ApiError(403, "Forbidden", 'secrets "db" is forbidden')
    with pytest.raises(ApiError):
        lookup(server, clock).read(STACK, ["db"])


class Recording(Mapping[str, ObjectInfo]):
    """Secrets that exist under every name; records each name asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> ObjectInfo:
        self.asked.add(name)
        keys = frozenset({"password", "secret-key", "url", "tls.crt", "tls.key", "token"})
        return ObjectInfo(keys, "digest")

    def __contains__(self, name: object) -> bool:
        self.asked.add(str(name))
        return True

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("a decision must not iterate over the namespace's Secrets")

    def __len__(self) -> int:
        raise AssertionError("a decision must not count the namespace's Secrets")


REFERENCING = {
    "secretKeyRef": {"name": "own-key", "key": "secret-key"},
    "database": {"external": {"urlSecretRef": {"name": "db-url", "key": "url"}}},
    "redis": {"external": {"urlSecretRef": {"name": "redis-url", "key": "url"}}},
    "env": [
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
        {
            "name": "OPT",
            "valueFrom": {"secretKeyRef": {"name": "opt", "key": "token", "optional": True}},
        },
    ],
    "envFrom": [
        {"secretRef": {"name": "bulk"}},
        {"secretRef": {"name": "maybe", "optional": True}},
    ],
    "ingress": {"host": "shop.example.com", "tls": {"secretName": "shop-cert"}},
}


def stacks() -> list[DjangoStack]:
    production = sample("production")
    production["metadata"]["uid"] = "uid-p"
    return [
        make_stack(),
        make_stack(**REFERENCING),
        parse_stack(production),
        parse_stack(deep_merge(stack_object(), {"spec": {"ingress": None}})),
    ]


@pytest.mark.parametrize("stack", stacks(), ids=["default", "referencing", "production", "bare"])
def test_the_names_read_are_every_secret_a_decision_looks_at(stack: DjangoStack) -> None:
    """The operator reads exactly `secret_names`: a Secret a decision looks at but the list
    lacks would always look missing (and a generated one be made again and again)."""
    recording = Recording()
    decide(stack, {}, recording, {}, {})
    assert recording.asked <= set(secret_names(stack))
    assert recording.asked, "the decision looked at no Secret at all"
