"""Every image the local cluster runs, built here (no registry can be reached).

- pause: a static C binary (image-files/pause.c) in one layer: the pod sandbox.
- python-base: Debian 12's Python 3.11 made with mmdebstrap; it stands in for the Dockerfile's
  `FROM` (the PYTHON_IMAGE build argument, whose default stays the public python image).
- postgres, redis: Debian's packages (PostgreSQL 17 from Debian 13, Redis 7.0 from Debian 12)
  under the names the renderer uses by default, honouring the public images' contract that
  the operator relies on (image-files/postgres-entrypoint.sh; docs/local-cluster.md lists the
  differences).
- app, operator: the Dockerfile's two targets, built with buildah from python-base.
- app-next, app-broken: the reference app's next releases (example-app:0.2.0 adds a migration,
  0.3.0-broken one that fails), the app image plus files of image-files/app-<tag>/: what
  releases are tried with here.

Each archive is kept in `<cache>/images/` under a name carrying the digest of its inputs, so
it is rebuilt exactly when an input changes; `import_all` loads into containerd what it does
not have yet. Every step prints what it does and how long it took.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from djangostack_devcluster.tools import REPO_ROOT, ToolError, cache_dir
from djangostack_operator import spec

if TYPE_CHECKING:
    from djangostack_devcluster.containerd import Containerd

FILES = Path(__file__).with_name("image-files")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# Not needed in an image, and a third of a Debian root file system.
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")
# The UID the public postgres and redis images give their user, which the renderer runs as.
DATA_SERVICE_UID = 999
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def log(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def images_dir() -> Path:
    return cache_dir() / "images"


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an OCI image config a local image sets."""

    env: tuple[str, ...] = (f"PATH={BASE_PATH}", "LANG=C.UTF-8")
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"Env": list(self.env), "Labels": self.labels}
        if self.entrypoint:
            body["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            body["Cmd"] = list(self.cmd)
        if self.user:
            body["User"] = self.user
        if self.workdir:
            body["WorkingDir"] = self.workdir
        return body


def write_docker_archive(out: Path, name: str, layer: Path, config: ImageConfig) -> None:
    """A one-layer docker-archive (what `ctr images import` and `buildah pull` read)."""
    digest = hashlib.sha256()
    with layer.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    # A fixed date keeps the image ID a function of the contents; buildah needs one history
    # entry per layer.
    created = "2026-01-01T00:00:00Z"
    image = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": config.as_json(),
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digest.hexdigest()}"]},
        "history": [{"created": created, "created_by": f"djangostack_devcluster.images {name}"}],
    }
    config_bytes = json.dumps(image).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    manifest = [{"Config": config_name, "RepoTags": [name], "Layers": ["layer.tar"]}]
    with tarfile.open(out, "w") as archive:
        for member_name, data in ((config_name, config_bytes),
                                  ("manifest.json", json.dumps(manifest).encode())):  # fmt: skip
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        archive.add(layer, arcname="layer.tar")


def _run(label: str, argv: list[str], cwd: Path | None = None) -> None:
    """Run a build step, streaming a line of its output every 15 s so progress is visible."""
    started = time.monotonic()
    last = started
    tail: list[str] = []
    with subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            tail = [*tail[-39:], line.rstrip()]
            if time.monotonic() - last > 15:
                last = time.monotonic()
                log(f"{label} ({last - started:.0f}s): {line.strip()[:120]}")
        code = process.wait()
    if code != 0:
        raise ToolError(f"{label} failed (exit {code}): {' '.join(argv)}\n" + "\n".join(tail))


def mmdebstrap_rootfs(
    out: Path,
    suite: str,
    packages: Iterable[str],
    hooks: Iterable[str],
    essential_hooks: Iterable[str] = (),
) -> None:
    """A Debian root file system as a tar; `essential_hooks` run before the packages are
    installed, `hooks` (customize hooks) after."""
    argv = ["mmdebstrap", "--variant=essential", f"--include={','.join(packages)}", "--format=tar"]
    argv += [f"--essential-hook={hook}" for hook in essential_hooks]
    argv += [f"--dpkgopt=path-exclude={pattern}" for pattern in DPKG_EXCLUDES]
    argv += [f"--customize-hook={hook}" for hook in hooks]
    argv += [suite, str(out), DEBIAN_MIRROR]
    _run(f"mmdebstrap {suite}", argv)


# ---- the images -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalImage:
    """One image: its name in containerd and buildah, what it is made of, how it is made."""

    key: str
    name: str
    inputs: Callable[[], bytes]
    build: Callable[[Path, str], None]  # (archive to write, image name)
    runs_in_cluster: bool = True

    def archive(self) -> Path:
        digest = hashlib.sha256(self.inputs()).hexdigest()[:16]
        return images_dir() / f"{self.key}-{digest}.tar"


def _file_digests(paths: Iterable[Path]) -> bytes:
    """Digest input of files and folders (folder contents in order, caches skipped)."""
    lines = []
    for path in paths:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for item in files:
            if "__pycache__" in item.parts or item.suffix == ".pyc" or ".egg-info" in str(item):
                continue
            lines.append(
                f"{item.relative_to(REPO_ROOT)} {hashlib.sha256(item.read_bytes()).hexdigest()}"
            )
    return "\n".join(lines).encode()


def _build_pause(out: Path, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "pause"
        _run("gcc pause.c", ["gcc", "-static", "-O2", "-o", str(binary), str(FILES / "pause.c")])
        layer = Path(tmp) / "layer.tar"
        with tarfile.open(layer, "w") as archive:
            archive.add(binary, arcname="pause")
        write_docker_archive(
            out, name, layer, ImageConfig(env=(), entrypoint=("/pause",), user="65535")
        )


# What the public python:3.11-slim-bookworm image has that the app needs: tzdata (zoneinfo; Celery
# and kombu load UTC from it), netbase (/etc/services, /etc/protocols), ca-certificates.
PYTHON_PACKAGES = (
    "python3",
    "python3-venv",
    "python-is-python3",
    "passwd",
    "ca-certificates",
    "tzdata",
    "netbase",
)


def _build_python_base(out: Path, name: str) -> None:
    with tempfile.TemporaryDirectory(dir=images_dir()) as tmp:
        layer = Path(tmp) / "layer.tar"
        mmdebstrap_rootfs(layer, "bookworm", PYTHON_PACKAGES, [])
        write_docker_archive(out, name, layer, ImageConfig())


POSTGRES_MAJOR = "17"
POSTGRES_PACKAGES = (f"postgresql-{POSTGRES_MAJOR}", "passwd", "gzip")
_UID_HOOK = (
    'chroot "$1" sh -c "usermod -u {uid} {user} && groupmod -g {uid} {user}'
    ' && mkdir -p {dirs} && chown -R {uid}:{uid} {dirs}"'
)


def _build_postgres(out: Path, name: str) -> None:
    dirs = "/var/lib/postgresql /var/run/postgresql"
    hooks = [
        _UID_HOOK.format(uid=DATA_SERVICE_UID, user="postgres", dirs=dirs),
        f"upload {FILES / 'postgres-entrypoint.sh'} /usr/local/bin/docker-entrypoint.sh",
        'chmod 0755 "$1/usr/local/bin/docker-entrypoint.sh"',
    ]
    with tempfile.TemporaryDirectory(dir=images_dir()) as tmp:
        layer = Path(tmp) / "layer.tar"
        # Debian's package would make a cluster in /var/lib/postgresql/17/main: start empty.
        hooks_first = [
            'mkdir -p "$1/etc/postgresql-common" && echo "create_main_cluster = false"'
            ' > "$1/etc/postgresql-common/createcluster.conf"'
        ]
        mmdebstrap_rootfs(layer, "trixie", POSTGRES_PACKAGES, hooks, essential_hooks=hooks_first)
        config = ImageConfig(
            env=(
                f"PATH=/usr/lib/postgresql/{POSTGRES_MAJOR}/bin:{BASE_PATH}",
                "LANG=C.UTF-8",
                "PGDATA=/var/lib/postgresql/data",
            ),
            entrypoint=("docker-entrypoint.sh",),
            cmd=("postgres",),
            labels={"io.djangostack.local-image": "Debian 13 postgresql-17"},
        )
        write_docker_archive(out, name, layer, config)


REDIS_PACKAGES = ("redis-server", "passwd")


def _build_redis(out: Path, name: str) -> None:
    hooks = [_UID_HOOK.format(uid=DATA_SERVICE_UID, user="redis", dirs="/data")]
    with tempfile.TemporaryDirectory(dir=images_dir()) as tmp:
        layer = Path(tmp) / "layer.tar"
        mmdebstrap_rootfs(layer, "bookworm", REDIS_PACKAGES, hooks)
        config = ImageConfig(
            cmd=("redis-server",),
            workdir="/data",
            labels={"io.djangostack.local-image": "Debian 12 redis-server"},
        )
        write_docker_archive(out, name, layer, config)


# ---- the Dockerfile's targets, with buildah ---------------------------------------------------


def buildah_root() -> list[str]:
    """buildah keeps its storage in the cache, not in /var/lib/containers."""
    root = cache_dir() / "buildah"
    return ["buildah", f"--root={root / 'storage'}", f"--runroot={root / 'run'}",
            "--storage-driver=overlay"]  # fmt: skip


def _buildah_image_id(name: str) -> str:
    probe = subprocess.run(
        [*buildah_root(), "images", "--no-trunc", "--format={{.ID}}", name],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return probe.stdout.strip().removeprefix("sha256:") if probe.returncode == 0 else ""


def _archive_image_id(archive: Path) -> str:
    """The image ID of a docker-archive: the digest of its config."""
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    return str(manifest[0]["Config"]).removesuffix(".json")


def _into_buildah(image: LocalImage) -> None:
    """Make buildah's store hold exactly this archive of `image` (to build FROM it)."""
    archive = ensure(image)
    if _buildah_image_id(image.name) != _archive_image_id(archive):
        _run(f"buildah pull {image.key}", [*buildah_root(), "pull", "--quiet",
                                           f"docker-archive:{archive}"])  # fmt: skip


def _build_target(target: str) -> Callable[[Path, str], None]:
    def build(out: Path, name: str) -> None:
        base = PYTHON_BASE.name
        _into_buildah(PYTHON_BASE)
        argv = [
            *buildah_root(), "bud", "--isolation=chroot", "--network=host", "--layers",
            "--pull-never", f"--build-arg=PYTHON_IMAGE={base}", f"--target={target}",
            f"--tag={name}", f"--file={REPO_ROOT / 'Dockerfile'}",
            # PyPI is reached through this machine's TLS proxy: pip needs its CA and settings.
            *_host_pip_volumes(),
            str(REPO_ROOT),
        ]  # fmt: skip
        _run(f"buildah bud --target {target}", argv)
        _run(f"buildah push {target}", [*buildah_root(), "push", "--quiet", name,
                                        f"docker-archive:{out}:{name}"])  # fmt: skip

    return build


def _build_overlay(base: LocalImage, overlay: Path) -> Callable[[Path, str], None]:
    """`base` with the files of `overlay` copied over its /app (a later release of the app)."""

    def build(out: Path, name: str) -> None:
        _into_buildah(base)
        with tempfile.TemporaryDirectory(dir=images_dir()) as tmp:
            context = Path(tmp)
            shutil.copytree(
                overlay, context / "app", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
            (context / "Containerfile").write_text(f"FROM {base.name}\nCOPY app/ /app/\n")
            _run(f"buildah bud {name}", [
                *buildah_root(), "bud", "--isolation=chroot", "--pull-never", "--layers",
                f"--tag={name}", f"--file={context / 'Containerfile'}", str(context),
            ])  # fmt: skip
        _run(f"buildah push {name}", [*buildah_root(), "push", "--quiet", name,
                                      f"docker-archive:{out}:{name}"])  # fmt: skip

    return build


def _overlay_inputs(base: LocalImage, overlay: Path) -> Callable[[], bytes]:
    def inputs() -> bytes:
        return base.archive().name.encode() + _file_digests([overlay])

    return inputs


def _host_pip_volumes() -> list[str]:
    volumes = []
    for path in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pip.conf"):
        if Path(path).is_file():
            volumes.append(f"--volume={path}:{path}:ro")
    return volumes


def _target_inputs(target: str, extra: Iterable[str]) -> Callable[[], bytes]:
    def inputs() -> bytes:
        paths = [REPO_ROOT / name for name in ("Dockerfile", ".dockerignore", "pyproject.toml",
                                               "README.md", "operator", *extra)]  # fmt: skip
        return target.encode() + PYTHON_BASE.archive().name.encode() + _file_digests(paths)

    return inputs


def _text_inputs(*parts: object) -> Callable[[], bytes]:
    def inputs() -> bytes:
        return repr(parts).encode()

    return inputs


def _default_image(attribute: str) -> str:
    # The renderer's defaults are the names these images must carry.
    return normalise(str(getattr(spec, attribute)))


def normalise(name: str) -> str:
    """The name as containerd stores it (what pods must ask for)."""
    first = name.split("/", 1)[0]
    if "/" not in name:
        return f"docker.io/library/{name}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{name}"
    return name


def _operator_image() -> str:
    """The image the chart installs by default: values' repository at the chart's appVersion."""
    chart = REPO_ROOT / "charts" / "djangostack-operator"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    app_version = yaml.safe_load((chart / "Chart.yaml").read_text())["appVersion"]
    return normalise(f"{values['image']['repository']}:{values['image']['tag'] or app_version}")


def _app_image() -> str:
    """The reference app's image, as the minimal sample names it."""
    sample = yaml.safe_load((REPO_ROOT / "manifests" / "samples" / "minimal.yaml").read_text())
    return normalise(str(sample["spec"]["image"]))


# Bumped when write_docker_archive changes what it writes.
ARCHIVE_FORMAT = 2

PAUSE = LocalImage(
    "pause", "docker.io/library/pause:djangostack",
    _text_inputs(ARCHIVE_FORMAT, (FILES / "pause.c").read_text()), _build_pause,
)  # fmt: skip
PYTHON_BASE = LocalImage(
    "python-base", "localhost/djangostack/python-base:3.11-bookworm",
    _text_inputs(ARCHIVE_FORMAT, "bookworm", PYTHON_PACKAGES, DPKG_EXCLUDES), _build_python_base,
    runs_in_cluster=False,
)  # fmt: skip
POSTGRES = LocalImage(
    "postgres", _default_image("DEFAULT_POSTGRES_IMAGE"),
    _text_inputs(ARCHIVE_FORMAT, "trixie", POSTGRES_PACKAGES, DPKG_EXCLUDES,
                 (FILES / "postgres-entrypoint.sh").read_text()),
    _build_postgres,
)  # fmt: skip
REDIS = LocalImage(
    "redis", _default_image("DEFAULT_REDIS_IMAGE"),
    _text_inputs(ARCHIVE_FORMAT, "bookworm", REDIS_PACKAGES, DPKG_EXCLUDES, DATA_SERVICE_UID),
    _build_redis,
)  # fmt: skip
APP = LocalImage("app", _app_image(), _target_inputs("app", ["app"]), _build_target("app"))
OPERATOR = LocalImage(
    "operator", _operator_image(), _target_inputs("operator", []),
    _build_target("operator"),
)  # fmt: skip


# Later releases of the reference app, for trying releases on the local cluster (the demo's
# release command, the end-to-end tests): 0.2.0 adds a migration (a table), 0.3.0-broken adds
# one more that fails.
def _release(key: str, base: LocalImage, tag: str) -> LocalImage:
    overlay = FILES / f"app-{tag}"
    name = f"{APP.name.rsplit(':', 1)[0]}:{tag}"
    return LocalImage(key, name, _overlay_inputs(base, overlay), _build_overlay(base, overlay))


APP_NEXT = _release("app-next", APP, "0.2.0")
APP_BROKEN = _release("app-broken", APP_NEXT, "0.3.0-broken")
ALL = (PAUSE, PYTHON_BASE, POSTGRES, REDIS, APP, OPERATOR, APP_NEXT, APP_BROKEN)


def ensure(image: LocalImage) -> Path:
    """The image's archive, built first if its inputs changed (older archives are removed)."""
    archive = image.archive()
    if archive.is_file():
        return archive
    images_dir().mkdir(parents=True, exist_ok=True)
    log(f"building {image.key} ({image.name})")
    started = time.monotonic()
    partial = archive.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    image.build(partial, image.name)
    for old in images_dir().glob(f"{image.key}-*.tar"):
        # Only this key's archives ("app-<digest>", not "app-next-<digest>").
        if re.fullmatch(rf"{re.escape(image.key)}-[0-9a-f]{{16}}\.tar", old.name):
            old.unlink()
    os.rename(partial, archive)
    size = archive.stat().st_size >> 20
    log(f"built {image.key} in {time.monotonic() - started:.0f}s ({size} MiB)")
    return archive


def ensure_all() -> list[Path]:
    for tool in ("mmdebstrap", "buildah", "gcc"):
        if shutil.which(tool) is None:
            raise ToolError(f"{tool} is not installed (scripts/bootstrap.sh installs it)")
    return [ensure(image) for image in ALL]


def import_all(containerd: Containerd) -> None:
    """Load every cluster image into containerd unless it has this very archive already."""
    stamps_file = containerd.root / "djangostack-imported.json"
    stamps: dict[str, str] = json.loads(stamps_file.read_text()) if stamps_file.is_file() else {}
    present = containerd.image_names()
    for image in ALL:
        if not image.runs_in_cluster:
            continue
        archive = ensure(image)
        if image.name in present and stamps.get(image.name) == archive.name:
            continue
        started = time.monotonic()
        containerd.import_image(archive)
        stamps[image.name] = archive.name
        stamps_file.write_text(json.dumps(stamps, indent=2))
        log(f"imported {image.name} in {time.monotonic() - started:.1f}s")
