"""cert-manager: its controllers (hack/cert-manager, the release's own packages) on the host,
with the release's CRDs, so an Ingress annotated for an issuer gets a Certificate and Traefik
serves the Secret cert-manager writes.

It runs with its own client certificate, bound to a role over what those controllers touch:
cert-manager's resources, Secrets (the certificates' and issuers' keys), Ingresses (read, for
the shim) and Events. A self-signed ClusterIssuer `selfsigned` is there from the start.
"""

from __future__ import annotations

from pathlib import Path

USER = "system:cert-manager"  # the CN of pki.CERT_MANAGER
NAMESPACE = "cert-manager"  # where ClusterIssuers' Secrets live
SELF_SIGNED_ISSUER = "selfsigned"

RBAC = f"""
apiVersion: v1
kind: Namespace
metadata:
  name: {NAMESPACE}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: djangostack:cert-manager
rules:
  - apiGroups: [cert-manager.io]
    resources: ["*"]
    verbs: ["*"]
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get, list, watch, create, update, patch, delete]
  - apiGroups: [""]
    resources: [events]
    verbs: [create, patch]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses]
    verbs: [get, list, watch]
  - apiGroups: [certificates.k8s.io]
    resources: [signers]
    verbs: [approve]
    resourceNames: ["issuers.cert-manager.io/*", "clusterissuers.cert-manager.io/*"]
  - apiGroups: [authorization.k8s.io]
    resources: [subjectaccessreviews]
    verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: djangostack:cert-manager
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: djangostack:cert-manager
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{USER}"}}]
"""

ISSUER = f"""
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: {SELF_SIGNED_ISSUER}
spec:
  selfSigned: {{}}
"""


def crds(binary: Path) -> list[Path]:
    """The CRDs of the same release, kept beside the binary (tools.ensure_cert_manager)."""
    return sorted((binary.parent / "crds").glob("*.yaml"))


def args(kubeconfig: Path) -> list[str]:
    return [f"--kubeconfig={kubeconfig}", f"--cluster-resource-namespace={NAMESPACE}"]
