"""Certificates do not silently expire: the operator's own is renewed ahead of time, and a
certificate in use that is expired, expiring or unreadable turns TLSReady False."""

from __future__ import annotations

import base64
import datetime
from dataclasses import replace

import pytest

from djangostack_operator import certificates, secretgen
from djangostack_operator.cache import config_info
from djangostack_operator.decide import decide
from djangostack_operator.status import Observation, compute_status
from tests.factories import certificate_expiring, make_stack
from tests.unit.test_decide import converged
from tests.unit.test_status import conditions, observed, released

NOW = "2026-12-01T10:00:00Z"


def tls_secret(not_after: datetime.datetime | None = None) -> dict[str, object]:
    certificate, key = secretgen.self_signed_certificate("shop.example.com")
    if not_after is not None:
        certificate = certificate_expiring(not_after)
    return {
        "metadata": {"name": "shop-tls", "uid": "u"},
        "data": {"tls.crt": base64.b64encode(certificate).decode(),
                 "tls.key": base64.b64encode(key).decode()},
    }  # fmt: skip


def at(days: float) -> datetime.datetime:
    return certificates.parse_time(NOW) + datetime.timedelta(days=days)


def test_the_expiry_is_read_from_tls_crt_and_nothing_else_is_kept() -> None:
    info = config_info("Secret", tls_secret(at(3)))
    assert info.not_after == at(3).strftime(certificates.TIME_FORMAT)
    assert (
        config_info("Secret", {"metadata": {}, "data": {"tls.crt": "bm90IGEgY2VydA=="}}).not_after
        == ""
    )
    assert config_info("Secret", {"metadata": {}, "data": {"password": "eA=="}}).not_after is None
    fresh = config_info("Secret", tls_secret())
    assert fresh.not_after is not None
    assert not certificates.expires_within(fresh.not_after, NOW, certificates.RENEW_BEFORE)


@pytest.mark.parametrize(
    ("days", "renewed"), [(29, True), (-1, True), (31, False)], ids=["soon", "expired", "later"]
)
def test_the_operators_own_certificate_is_renewed_thirty_days_ahead(
    days: int, renewed: bool
) -> None:
    stack = make_stack()
    world, secrets = converged(stack)
    expiry = at(days).strftime(certificates.TIME_FORMAT)
    secrets["shop-tls"] = replace(secrets["shop-tls"], not_after=expiry)
    writes = [w for w in decide(stack, world, secrets, {}, {}, now=NOW).writes]
    rows = [f"{w.verb} {w.name}" for w in writes]
    assert rows == (["regenerate-secret shop-tls"] if renewed else [])
    if renewed:
        assert writes[0].event is not None and expiry in writes[0].event.message


def test_an_unreadable_own_certificate_is_made_again_but_a_users_is_not() -> None:
    stack = make_stack()
    world, secrets = converged(stack)
    secrets["shop-tls"] = replace(secrets["shop-tls"], not_after="")
    assert [w.verb for w in decide(stack, world, secrets, {}, {}, now=NOW).writes] == [
        "regenerate-secret"
    ]
    # A Secret of this name the user made (not labelled as ours) is never overwritten.
    secrets["shop-tls"] = replace(
        secrets["shop-tls"], not_after=at(1).strftime(certificates.TIME_FORMAT), ours=False
    )
    assert decide(stack, world, secrets, {}, {}, now=NOW).writes == ()


@pytest.mark.parametrize(
    ("not_after", "expected"),
    [
        (at(100).strftime(certificates.TIME_FORMAT), ("True", "CertificateReady")),
        (at(3).strftime(certificates.TIME_FORMAT), ("False", "CertificateExpiring")),
        (at(-1).strftime(certificates.TIME_FORMAT), ("False", "CertificateExpired")),
        ("", ("False", "CertificateInvalid")),
    ],
    ids=["valid", "expiring", "expired", "unreadable"],
)
def test_tls_ready_says_when_the_certificate_in_use_cannot_serve_much_longer(
    not_after: str, expected: tuple[str, str]
) -> None:
    stack = make_stack(ingress={"tls": {"secretName": "bought"}})
    observation = Observation(
        observed(stack), released(stack), tls_secret_present=True, tls_not_after=not_after
    )
    status = compute_status(stack, observation, None, NOW)
    assert conditions(status)["TLSReady"] == expected
    assert conditions(status)["Ready"][0] == ("True" if expected[0] == "True" else "False")
