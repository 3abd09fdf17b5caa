"""When the Ingress's certificate stops being valid: read from a TLS Secret's `tls.crt`.

Only the first certificate of the chain (the server's own) counts. The certificate is
public; what the operator keeps of it is its notAfter time, never the key.
"""

from __future__ import annotations

import base64
import binascii
import datetime

from cryptography import x509

from djangostack_operator.vocabulary import TIME_FORMAT

# The operator's own self-signed certificate is made again this long before it expires.
RENEW_BEFORE = datetime.timedelta(days=30)
# A certificate in use expiring sooner than this makes TLSReady False (CertificateExpiring):
# whoever issues it (cert-manager renews 30 days ahead by default) has not renewed it.
EXPIRY_WARNING = datetime.timedelta(days=7)


def not_after(tls_crt_base64: str) -> str | None:
    """The notAfter of the first certificate in a Secret's base64 `tls.crt`, as
    TIME_FORMAT; None when it holds no readable certificate."""
    try:
        pem = base64.b64decode(tls_crt_base64, validate=True)
        certificate = x509.load_pem_x509_certificate(pem)
    except (binascii.Error, ValueError):
        return None
    return certificate.not_valid_after_utc.strftime(TIME_FORMAT)


def parse_time(value: str) -> datetime.datetime:
    return datetime.datetime.strptime(value, TIME_FORMAT).replace(tzinfo=datetime.UTC)


def expires_within(expiry: str, now: str, margin: datetime.timedelta) -> bool:
    """The certificate is expired at `now`, or will be within `margin`."""
    return parse_time(expiry) - parse_time(now) <= margin
