# The two commands a fresh machine needs are `make demo` and `make test`; everything else
# here is a step of theirs or a developer convenience.
SHELL := /bin/bash
PY := .venv/bin/python
DEVCLUSTER := $(PY) -m djangostack_devcluster

.PHONY: bootstrap venv tools images cluster-up cluster-down demo demo-down app-up app-down test unit lint crd docs

demo: bootstrap  ## the operator and a sample stack on the local control plane, watched to Ready
	@$(PY) -m djangostack_devcluster.demo up

demo-down:  ## stop the demo: the operator and the local control plane
	@if [ -x $(PY) ]; then $(PY) -m djangostack_devcluster.demo down; fi

app-up: bootstrap  ## the sample's rendered pod specs as local processes: web on http://127.0.0.1:8000
	@$(PY) -m djangostack_devcluster.localapp up

app-down:  ## stop the processes of app-up (data stays in .app/)
	@if [ -x $(PY) ]; then $(PY) -m djangostack_devcluster.localapp down; fi

bootstrap:  ## apt packages, .venv and the control plane binaries (idempotent)
	@scripts/bootstrap.sh

venv: bootstrap

tools: bootstrap  ## build/link the cluster binaries (Kubernetes, kwok, helm, CoreDNS, Traefik, metrics-server, cert-manager) into .cluster/bin
	@$(DEVCLUSTER) tools

images: bootstrap  ## build the cluster's images (pause, postgres, redis, app, operator; cached)
	@$(DEVCLUSTER) images

cluster-up: bootstrap  ## the local control plane with kwok's fake node and a real node (containerd)
	@$(DEVCLUSTER) up
	@echo "export KUBECONFIG=$(CURDIR)/.cluster/kubeconfig"

cluster-down:  ## stop the local cluster and remove everything its real node made on this machine
	@if [ -x $(PY) ]; then $(DEVCLUSTER) down && $(DEVCLUSTER) leftovers; fi

lint: bootstrap  ## ruff, mypy, and the chart and manifests (helm lint --strict, ...)
	.venv/bin/ruff check operator devcluster app tests bench
	.venv/bin/ruff format --check operator devcluster app tests bench
	set -a && . app/build.env && set +a && .venv/bin/mypy
	$(DEVCLUSTER) lint

crd: bootstrap  ## regenerate crds/djangostacks.yaml from the models
	.venv/bin/djangostack crd > crds/djangostacks.yaml

unit: bootstrap  ## the tests that need no cluster
	.venv/bin/pytest tests/unit

# pytest exits 5 when it collected no test: here that means the suite is broken, so fail loudly.
test: lint  ## the whole suite: lint, unit tests, tests against the local control plane
	@.venv/bin/pytest; code=$$?; \
	if [ $$code -eq 5 ]; then echo "pytest ran no tests: the suite is broken" >&2; fi; \
	exit $$code

docs: bootstrap  ## regenerate the field reference in docs/api.md
	$(PY) -m djangostack_operator.apidoc docs/api.md
