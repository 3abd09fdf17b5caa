#!/usr/bin/env bash
# Make this machine ready for `make test` and `make demo`, idempotently:
#   1. Debian packages when missing: PostgreSQL and Redis servers for the app tests, shellcheck,
#      wrk (the load generator of the benchmarks),
#      and the real node's runtime (containerd, runc, the CNI plugins, iptables, nftables,
#      conntrack) and image tools (mmdebstrap, buildah);
#   2. the virtualenv .venv with the project and its dev/app extras, when pyproject.toml changed;
#   3. the cluster's binaries, built once into ~/.cache/djangostack-operator;
#   4. the cluster's images (pause, postgres, redis, the Dockerfile's app and operator), built
#      into the same cache and rebuilt when their inputs change.
# Each step prints what it does; a step that is already done prints one line and moves on.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(postgresql redis-server shellcheck wrk
  containerd runc containernetworking-plugins iptables nftables conntrack mmdebstrap buildah)
PYTHON=${PYTHON:-python3}

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  step "Debian packages present (${APT_PACKAGES[*]})"
fi

stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  step "creating the virtualenv .venv (project with dev and app extras)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet --progress-bar off -e '.[dev,app]'
  rm -f .venv/.installed-*
  touch "$stamp"
else
  step "virtualenv .venv up to date"
fi

# devcluster/ (the local cluster tooling) is on the virtualenv's path, outside the operator's wheel.
site_packages=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
printf '%s\n' "$PWD/devcluster" > "$site_packages/djangostack-devcluster.pth"

step "control plane binaries (cached in ${DJANGOSTACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/djangostack-operator})"
.venv/bin/python -m djangostack_devcluster tools >/dev/null

step "cluster images (cached in the same folder; rebuilt when their inputs change)"
.venv/bin/python -m djangostack_devcluster images >/dev/null
