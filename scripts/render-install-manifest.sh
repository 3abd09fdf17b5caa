#!/usr/bin/env bash
# Render manifests/install.yaml from the Helm chart (cluster-wide mode, namespace
# djangostack-system), for `kubectl apply --server-side -f` (the CRD is too large for a
# client-side apply). A test fails when the committed file is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
helm=${HELM:-.cluster/bin/helm}
{
  echo "# Generated from charts/djangostack-operator by scripts/render-install-manifest.sh; do not edit."
  echo "apiVersion: v1"
  echo "kind: Namespace"
  echo "metadata:"
  echo "  name: djangostack-system"
  echo "  labels:"
  echo "    pod-security.kubernetes.io/enforce: restricted"
  "$helm" template djangostack-operator charts/djangostack-operator \
    --namespace djangostack-system --include-crds
}
