"""Certificates and keys of the local control plane, made once per state folder.

One CA signs the apiserver's serving certificate and a client certificate per identity.
ECDSA P-256 everywhere: key generation takes milliseconds (RSA-2048 takes far longer on a
loaded 2-core machine) and every component accepts it, service-account tokens included.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from djangostack_devcluster import topology

VALIDITY = datetime.timedelta(days=365)
# Names the apiserver answers to: loopback, and what in-cluster clients would use.
SERVING_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
# Loopback, the `kubernetes` Service and the real node's address (where pods reach it).
SERVING_IPS = ("127.0.0.1", topology.KUBERNETES_SERVICE_IP, topology.NODE_IP)


@dataclass(frozen=True)
class ClientIdentity:
    file_stem: str
    user: str
    groups: tuple[str, ...] = ()


# Each component gets the identity its bootstrap RBAC role is bound to; tests and kwok use admin.
ADMIN = ClientIdentity("admin", "kubernetes-admin", ("system:masters",))
CONTROLLER_MANAGER = ClientIdentity("controller-manager", "system:kube-controller-manager")
SCHEDULER = ClientIdentity("scheduler", "system:kube-scheduler")
# The real node: the kubelet's node identity (the Node authorizer's), kube-proxy's (bound to
# system:node-proxier by default), the apiserver's own when it calls the kubelet (logs, exec;
# bound to system:kubelet-api-admin at start) and the cluster DNS's (a read-only role).
KUBELET = ClientIdentity("kubelet", f"system:node:{topology.REAL_NODE}", ("system:nodes",))
KUBE_PROXY = ClientIdentity("kube-proxy", "system:kube-proxy")
APISERVER_KUBELET_CLIENT = ClientIdentity(
    "apiserver-kubelet-client", "kube-apiserver-kubelet-client"
)
COREDNS = ClientIdentity("coredns", "system:coredns")
# The aggregation layer: the apiserver's identity towards extension apiservers (metrics-server
# trusts the CN front-proxy-client from this CA only), and metrics-server's own.
FRONT_PROXY = ClientIdentity("front-proxy-client", "front-proxy-client")
METRICS_SERVER = ClientIdentity("metrics-server", "system:metrics-server")
CERT_MANAGER = ClientIdentity("cert-manager", "system:cert-manager")
NETWORK_POLICIES = ClientIdentity("network-policies", "system:network-policies")
CLIENT_IDENTITIES = (
    ADMIN,
    CONTROLLER_MANAGER,
    SCHEDULER,
    KUBELET,
    KUBE_PROXY,
    APISERVER_KUBELET_CLIENT,
    COREDNS,
    FRONT_PROXY,
    METRICS_SERVER,
    CERT_MANAGER,
    NETWORK_POLICIES,
)
# metrics-server's serving name, as the aggregator checks it (<service>.<namespace>.svc).
METRICS_SERVER_DNS_NAMES = ("metrics-server.kube-system.svc",)


@dataclass(frozen=True)
class Pki:
    """Paths of every PKI file under one folder."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.root / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.root / "apiserver.key"

    @property
    def metrics_server_cert(self) -> Path:
        return self.root / "metrics-server-serving.crt"

    @property
    def metrics_server_key(self) -> Path:
        return self.root / "metrics-server-serving.key"

    @property
    def service_account_key(self) -> Path:
        return self.root / "sa.key"

    @property
    def service_account_public_key(self) -> Path:
        return self.root / "sa.pub"

    def client_cert(self, identity: ClientIdentity) -> Path:
        return self.root / f"{identity.file_stem}.crt"

    def client_key(self, identity: ClientIdentity) -> Path:
        return self.root / f"{identity.file_stem}.key"

    def complete(self) -> bool:
        files = [
            self.ca_cert,
            self.ca_key,
            self.serving_cert,
            self.serving_key,
            self.metrics_server_cert,
            self.metrics_server_key,
            self.service_account_key,
            self.service_account_public_key,
        ]
        for identity in CLIENT_IDENTITIES:
            files += [self.client_cert(identity), self.client_key(identity)]
        return all(path.is_file() for path in files)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def ensure_pki(root: Path) -> Pki:
    """Create the PKI under `root` unless it is already complete; return its paths."""
    pki = Pki(root)
    if pki.complete():
        return pki
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)

    ca_key = _new_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "djangostack-local-ca")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(pki.ca_key, ca_key)
    _write_cert(pki.ca_cert, ca_cert)

    def serving(name: str, dns: Iterable[str], ips: Iterable[str], cert: Path, key: Path) -> None:
        serving_key = _new_key()
        alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
        alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        serving_cert = (
            _builder(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]),
                ca_name,
                serving_key.public_key(),
            )
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_key(key, serving_key)
        _write_cert(cert, serving_cert)

    serving("kube-apiserver", SERVING_DNS_NAMES, SERVING_IPS, pki.serving_cert, pki.serving_key)
    serving("metrics-server", METRICS_SERVER_DNS_NAMES, (topology.NODE_IP,),
            pki.metrics_server_cert, pki.metrics_server_key)  # fmt: skip

    for identity in CLIENT_IDENTITIES:
        client_key = _new_key()
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, identity.user)]
        attributes += [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in identity.groups
        ]
        client_cert = (
            _builder(x509.Name(attributes), ca_name, client_key.public_key())
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_key(pki.client_key(identity), client_key)
        _write_cert(pki.client_cert(identity), client_cert)

    sa_key = _new_key()
    _write_key(pki.service_account_key, sa_key)
    pki.service_account_public_key.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki
