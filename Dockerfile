# syntax=docker/dockerfile:1
# Two images from one file:
#   docker build --target app      -t ghcr.io/djangostack/example-app:0.1.0 .
#   docker build --target operator -t ghcr.io/djangostack/djangostack-operator:0.1.0 .
# `app` is the reference Django app (app/), the container contract's implementation; `operator`
# runs `djangostack run`. Both run as UID 10001 and work with a read-only root filesystem.
# Dependencies come from pyproject.toml only (the same extras `make test` installs).

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app

# ---- build stages: a virtualenv each, nothing else is copied out -----------------------------
FROM base AS build
RUN python -m venv /venv
ENV PATH=/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator

FROM build AS app-build
# Only the `app` extra's requirements (the app image does not need the operator package).
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['app']))" > /tmp/app-requirements.txt \
    && pip install -r /tmp/app-requirements.txt

FROM build AS operator-build
RUN pip install .

# ---- the reference app ------------------------------------------------------------------------
FROM base AS app
COPY --from=app-build /venv /venv
ENV PATH=/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings
WORKDIR /app
COPY app/ ./
# Static files are collected at build time; build.env holds placeholders, never real secrets.
RUN set -a && . ./build.env && set +a && python manage.py collectstatic --noinput
USER 10001:10001
EXPOSE 8000 9100
# The operator renders its own command for every tier; this default is the web tier's
# (the second port serves /metrics only, for Prometheus; DJANGOSTACK_METRICS_PORT names it).
CMD ["gunicorn", "--bind=0.0.0.0:8000", "--bind=0.0.0.0:9100", "config.wsgi:application"]

# ---- the operator -----------------------------------------------------------------------------
FROM base AS operator
COPY --from=operator-build /venv /venv
ENV PATH=/venv/bin:$PATH
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["djangostack"]
CMD ["run"]
