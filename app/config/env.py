"""Reading the container contract's environment variables.

Pure functions over a mapping, so that settings.py stays declarative and every rule here is
testable without Django. Errors name the variable and say what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.core.exceptions import ImproperlyConfigured

# The variables the operator always sets (docs/app.md, "The container contract").
REQUIRED = (
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
)

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def require(environ: Mapping[str, str], names: Sequence[str] = REQUIRED) -> dict[str, str]:
    """The values of `names`; one error listing every missing (or empty) variable."""
    missing = [name for name in names if not environ.get(name, "").strip()]
    if missing:
        raise ImproperlyConfigured(
            "missing environment variable(s): "
            + ", ".join(missing)
            + " (the container contract: docs/app.md)"
        )
    return {name: environ[name].strip() for name in names}


def csv(value: str) -> list[str]:
    """A comma-separated list; blanks dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]


def flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: expected true or false")


def integer(environ: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected an integer") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected an integer >= {minimum}")
    return value
