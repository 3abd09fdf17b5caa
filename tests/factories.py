"""Test data: `make_stack(**overrides)` builds a valid DjangoStack with spec overrides merged in."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from djangostack_operator.spec import DjangoStack
from djangostack_operator.validation import parse_stack

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "manifests" / "samples"
UID = "6f1c2a4e-0000-4000-8000-00000000c0de"

BASE_SPEC: dict[str, Any] = {
    "image": "registry.example.com/shop:1.0.0",
    "ingress": {"host": "shop.example.com"},
}


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Merge `overrides` into a copy of `base`; a None value removes the key."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def stack_object(
    name: str = "shop", namespace: str = "shop-ns", uid: str | None = UID, **spec: Any
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if uid is not None:
        metadata["uid"] = uid
    return {
        "apiVersion": "djangostack.io/v1alpha1",
        "kind": "DjangoStack",
        "metadata": metadata,
        "spec": deep_merge(BASE_SPEC, spec),
    }


def make_stack(
    name: str = "shop", namespace: str = "shop-ns", uid: str | None = UID, **spec: Any
) -> DjangoStack:
    return parse_stack(stack_object(name, namespace, uid, **spec))


def sample(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text())
    return document


def certificate_expiring(not_after: datetime.datetime, host: str = "shop.example.com") -> bytes:
    """A self-signed PEM certificate for `host` that expires at `not_after`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    built = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(not_after - datetime.timedelta(days=90)).not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return built.public_bytes(serialization.Encoding.PEM)
