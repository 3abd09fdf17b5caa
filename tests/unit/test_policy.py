"""The operator's policy: only allow-listed Ingress annotations reach the Ingress."""

from __future__ import annotations

import pytest

from djangostack_operator.cli import main
from djangostack_operator.decide import decide
from djangostack_operator.policy import (
    ALLOW_ANY,
    DEFAULT_INGRESS_ANNOTATIONS,
    Policy,
    policy_problems,
)
from djangostack_operator.status_types import Reason
from tests.factories import REPO, make_stack


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        ("cert-manager.io/cluster-issuer", True),  # a prefix entry
        ("nginx.ingress.kubernetes.io/proxy-body-size", True),  # an exact entry
        ("nginx.ingress.kubernetes.io/server-snippet", False),
        ("nginx.ingress.kubernetes.io/configuration-snippet", False),
        ("nginx.ingress.kubernetes.io/proxy-body-size-x", False),  # exact means exact
        ("traefik.ingress.kubernetes.io/router.middlewares", True),
        ("traefik.ingress.kubernetes.io/service.serversscheme", False),
        ("example.com/anything", False),
    ],
)
def test_the_default_allow_list(key: str, allowed: bool) -> None:
    assert Policy().allows_ingress_annotation(key) is allowed


def test_a_refused_annotation_stalls_the_stack_naming_the_key_and_blocks_child_writes() -> None:
    snippet = "nginx.ingress.kubernetes.io/server-snippet"
    stack = make_stack(ingress={"annotations": {snippet: "location / { }", "a.example/b": "1"}})
    ((reason, message),) = policy_problems(stack, Policy())
    assert reason == Reason.ANNOTATION_NOT_ALLOWED
    assert message.startswith("spec.ingress.annotations: a.example/b, " + snippet)
    decision = decide(stack, {}, {}, {}, {})
    assert (reason, message) in decision.problems
    assert not [w for w in decision.writes if w.kind != "Secret"]


def test_a_platform_may_allow_more_or_everything() -> None:
    stack = make_stack(ingress={"annotations": {"a.example/b": "1"}})
    assert policy_problems(stack, Policy(("a.example/",))) == []
    assert policy_problems(stack, Policy((ALLOW_ANY,))) == []
    assert policy_problems(make_stack(), Policy(())) == []  # no annotations, nothing refused


def test_the_cli_takes_the_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    from djangostack_operator import kube, runner  # noqa: PLC0415

    monkeypatch.setattr(kube, "load_api_client", lambda: None)
    monkeypatch.setattr(runner, "run", lambda options, *_, **__: seen.append(options.policy))
    assert main(["run", "--allow-ingress-annotation", "a.example/",
                 "--allow-ingress-annotation", "b.example/c"]) == 0  # fmt: skip
    assert main(["run"]) == 0
    assert seen == [Policy(("a.example/", "b.example/c")), Policy()]


def test_the_security_docs_list_the_default_allow_list() -> None:
    text = (REPO / "docs" / "security.md").read_text()
    block = text.split("<!-- allow-list:begin -->")[1].split("<!-- allow-list:end -->")[0]
    listed = [line.strip().removeprefix("- ").strip("`") for line in block.strip().splitlines()]
    assert tuple(listed) == DEFAULT_INGRESS_ANNOTATIONS
