"""Values for the Secrets the operator generates: random tokens and self-signed certificates.

The only module with randomness. Tokens are URL-safe (they are embedded in DATABASE_URL and
REDIS_URL through $(VAR) expansion) and come from the `secrets` module.
"""

from __future__ import annotations

import base64
import datetime
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from djangostack_operator.render.secrets import GeneratedSecret

# 48 bytes -> 64 characters: Django's deploy check wants a SECRET_KEY of at least 50.
TOKEN_BYTES = 48
CERTIFICATE_DAYS = 365
# X.509 limits a Common Name to 64 characters, while a host may have 253. Clients match
# the host against the subject alternative name only, so a long host keeps that and the
# subject gets a plain description instead.
MAX_COMMON_NAME = 64
LONG_HOST_COMMON_NAME = "djangostack self-signed"


def random_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def self_signed_certificate(host: str) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for `host`, valid for a year."""
    key = ec.generate_private_key(ec.SECP256R1())
    common_name = host if len(host) <= MAX_COMMON_NAME else LONG_HOST_COMMON_NAME
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def secret_data(wanted: GeneratedSecret) -> tuple[str, dict[str, str]]:
    """(Secret type, base64 data) with fresh values for `wanted`."""
    if wanted.kind == "self-signed-tls":
        assert wanted.host is not None
        certificate, key = self_signed_certificate(wanted.host)
        return "kubernetes.io/tls", {
            "tls.crt": base64.b64encode(certificate).decode(),
            "tls.key": base64.b64encode(key).decode(),
        }
    return "Opaque", {
        key: base64.b64encode(random_token().encode()).decode() for key in wanted.keys
    }
