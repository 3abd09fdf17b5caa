#!/usr/bin/env bash
# The operator and a sample stack on a kind cluster, reached over HTTPS through the Ingress.
#
# Needs: docker, kind, kubectl, helm, curl, and internet access (base images, the ingress-nginx
# manifest, postgres/redis images). Idempotent: run it again to rebuild and redeploy.
#   scripts/kind-demo.sh          # build, create the cluster, install, apply, call the app
#   scripts/kind-demo.sh down     # delete the kind cluster
# Steps: build both Dockerfile targets; create the cluster from kind-config.yaml; load the
# images; install ingress-nginx (the default IngressClass); install the chart; apply
# manifests/samples/minimal.yaml (self-signed TLS); wait for Ready; curl the app over HTTPS.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=djangostack  # the name in kind-config.yaml
VERSION=${VERSION:-0.1.0}
APP_IMAGE=ghcr.io/djangostack/example-app:${VERSION}
OPERATOR_IMAGE=ghcr.io/djangostack/djangostack-operator:${VERSION}
INGRESS_NGINX=https://raw.githubusercontent.com/kubernetes/ingress-nginx/controller-v1.12.1/deploy/static/provider/kind/deploy.yaml
NAMESPACE=demo
SAMPLE=manifests/samples/minimal.yaml
HOST=shop.example.com  # spec.ingress.host of the sample

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if [ "${1:-up}" = "down" ]; then
  step "deleting kind cluster ${CLUSTER}"
  kind delete cluster --name "${CLUSTER}"
  exit 0
fi

for tool in docker kind kubectl helm curl; do
  command -v "${tool}" >/dev/null || { echo "missing: ${tool}" >&2; exit 1; }
done

step "building ${APP_IMAGE} and ${OPERATOR_IMAGE}"
docker build --target app -t "${APP_IMAGE}" .
docker build --target operator -t "${OPERATOR_IMAGE}" .

if kind get clusters | grep -qx "${CLUSTER}"; then
  step "kind cluster ${CLUSTER} exists"
else
  step "creating kind cluster ${CLUSTER}"
  kind create cluster --config kind-config.yaml
fi
kubectl config use-context "kind-${CLUSTER}" >/dev/null

step "loading images into the cluster"
kind load docker-image --name "${CLUSTER}" "${APP_IMAGE}" "${OPERATOR_IMAGE}"

step "installing ingress-nginx"
kubectl apply -f "${INGRESS_NGINX}"
kubectl annotate ingressclass nginx ingressclass.kubernetes.io/is-default-class=true --overwrite
kubectl wait --namespace ingress-nginx --for=condition=Ready pod \
  --selector=app.kubernetes.io/component=controller --timeout=300s

step "installing the operator chart"
helm upgrade --install djangostack-operator charts/djangostack-operator \
  --namespace djangostack-system --create-namespace \
  --set image.tag="${VERSION}" --set image.pullPolicy=IfNotPresent --wait

step "applying ${SAMPLE} in namespace ${NAMESPACE}"
kubectl create namespace "${NAMESPACE}" --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace "${NAMESPACE}" pod-security.kubernetes.io/enforce=restricted --overwrite
kubectl apply --namespace "${NAMESPACE}" -f "${SAMPLE}"
kubectl wait --namespace "${NAMESPACE}" djangostack/shop --for=condition=Ready --timeout=600s
kubectl get djangostacks,deployments,statefulsets,jobs,ingress --namespace "${NAMESPACE}"

step "calling https://${HOST}/ through the Ingress (self-signed certificate, hence -k)"
curl --fail --silent --show-error -k --resolve "${HOST}:443:127.0.0.1" "https://${HOST}/readyz"
echo
curl --fail --silent --show-error -k --resolve "${HOST}:443:127.0.0.1" "https://${HOST}/api/status/"
echo
step "done; delete everything with: scripts/kind-demo.sh down"
