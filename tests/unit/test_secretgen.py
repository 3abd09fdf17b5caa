"""Generated values: tokens and self-signed certificates for any host the API takes."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509

from djangostack_operator import secretgen
from djangostack_operator.render.secrets import generated_secrets
from tests.factories import make_stack

HOSTS = [
    "shop.example.com",
    "shop-" + "a" * 50 + ".example.com",  # 67 characters: over the 64 of a Common Name
    ".".join(["b" * 63] * 3) + ".example.com",  # 203 characters
]


@pytest.mark.parametrize("host", HOSTS, ids=lambda h: f"{len(h)}-chars")
def test_a_self_signed_certificate_is_made_for_a_host_of_any_length(host: str) -> None:
    stack = make_stack(ingress={"host": host})
    [tls] = [s for s in generated_secrets(stack) if s.kind == "self-signed-tls"]
    secret_type, data = secretgen.secret_data(tls)
    assert secret_type == "kubernetes.io/tls"
    certificate = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [host]
    [common_name] = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    assert common_name.value == (host if len(host) <= 64 else secretgen.LONG_HOST_COMMON_NAME)


def test_tokens_are_long_enough_for_django_and_never_repeat() -> None:
    tokens = {secretgen.random_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(token) >= 50 for token in tokens)
