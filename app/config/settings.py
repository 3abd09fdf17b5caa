"""Settings of the reference app: read only from the container contract's environment.

Every value the operator gives a pod (docs/app.md) is read here, once; a missing one stops the
process at start-up with an error naming it. The defaults are the production ones: a developer
opts out of them (DJANGO_DEBUG, DJANGO_SECURE_SSL_REDIRECT), never into them.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
import django_stubs_ext

from config import env

# Django's generic classes (ModelAdmin[Item]) subscriptable at run time, as typed.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
ENV = os.environ
contract = env.require(ENV)

SECRET_KEY = contract["DJANGO_SECRET_KEY"]
DEBUG = env.flag(ENV, "DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.csv(contract["DJANGO_ALLOWED_HOSTS"])
CSRF_TRUSTED_ORIGINS = env.csv(ENV.get("DJANGO_CSRF_TRUSTED_ORIGINS", ""))
# The image of the release this process runs (set by the operator; reported at /api/status/).
RELEASE = ENV.get("DJANGOSTACK_RELEASE", "")
# The port of gunicorn's second listener, which serves /metrics and nothing else (0: none).
METRICS_PORT = env.integer(ENV, "DJANGOSTACK_METRICS_PORT", default=0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "health",
    "items",
]

MIDDLEWARE = [
    # First: probes and /metrics answer before host checks and the HTTPS redirect (the
    # kubelet and Prometheus call the pod IP over plain HTTP).
    "health.middleware.InfrastructureEndpointsMiddleware",
    "observability.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ---- data services ---------------------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.parse(
        contract["DATABASE_URL"],
        conn_max_age=env.integer(ENV, "DATABASE_CONN_MAX_AGE", default=60),
        conn_health_checks=True,
    )
}
# A stopped database must fail /readyz quickly, not hang the probe.
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 3

REDIS_URL = contract["REDIS_URL"]
REDIS_TIMEOUT_SECONDS = 2
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "app",
        "OPTIONS": {
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
        },
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"

# ---- Celery ----------------------------------------------------------------------------------

CELERY_BROKER_URL = contract["CELERY_BROKER_URL"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
HEARTBEAT_INTERVAL_SECONDS = env.integer(ENV, "HEARTBEAT_INTERVAL_SECONDS", default=60, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {
        "task": "health.tasks.heartbeat",
        "schedule": float(HEARTBEAT_INTERVAL_SECONDS),
    },
}

# ---- HTTP and security -----------------------------------------------------------------------

# The Ingress terminates TLS and says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.flag(ENV, "DJANGO_SECURE_SSL_REDIRECT", default=True)
# A year: what HSTS preload lists and security scanners expect of production (browsers keep
# using HTTPS for the host that long; lower it while trying a new host out).
SECURE_HSTS_SECONDS = env.integer(ENV, "DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.flag(ENV, "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading is a commitment of the whole domain, made by its owner: opt in explicitly.
SECURE_HSTS_PRELOAD = env.flag(ENV, "DJANGO_SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

# ---- static and media ------------------------------------------------------------------------

STATIC_URL = "static/"
# Collected when the image is built (the root filesystem is read-only at run time).
STATIC_ROOT = Path(ENV.get("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
MEDIA_URL = "media/"
MEDIA_ROOT = Path(ENV.get("DJANGO_MEDIA_ROOT") or BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# ---- the rest --------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    # Guessing passwords at the token endpoint is limited per client address, counted in the
    # cache (Redis), so the limit holds across gunicorn workers and pods.
    "DEFAULT_THROTTLE_RATES": {
        "token": ENV.get("DJANGO_TOKEN_THROTTLE_RATE") or "10/minute",
    },
    # The client address is the last one the Ingress controller (one proxy) adds to
    # X-Forwarded-For; without it every client would share the controller's address.
    "NUM_PROXIES": env.integer(ENV, "DJANGO_NUM_PROXIES", default=1, minimum=0),
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": ENV.get("DJANGO_LOG_LEVEL", "INFO")},
}
