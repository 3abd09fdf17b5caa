"""`kubectl djangostack COMMAND NAME`: the command line of the plugin.

Exit codes: 0 success; 1 the operation failed or the cluster said no (one line on stderr);
2 a usage error; `manage` exits with the command's own exit code.
"""

from __future__ import annotations

import argparse
import datetime
import secrets
import sys
from collections.abc import Sequence

from kubernetes.client.exceptions import ApiException

from djangostack_operator import __version__
from djangostack_operator.kube import api_message
from djangostack_operator.plugin import views
from djangostack_operator.plugin.session import PluginError, Session, connect
from djangostack_operator.release import job_failure
from djangostack_operator.render import meta
from djangostack_operator.spec import DjangoStack
from djangostack_operator.validation import InvalidStackError
from djangostack_operator.vocabulary import COMPONENT, TIME_FORMAT

EXIT_FAILED = 1

SUMMARIES = {
    "status": "conditions, release, pods per tier, last backup and URL of a stack",
    "backup": "take a backup now, wait for it and print the file",
    "restore": "restore a backup file into the stack's database and wait until it serves again",
    "releases": "the web tier's rollouts (newest first) and the migrations Jobs kept",
    "manage": "run a manage.py command (after --) once, as a Job with the serving release's"
    " image and env; exits with the command's exit code",
    "logs": "the logs of a tier's pods",
}
EXAMPLES = {
    "status": "kubectl djangostack status shop -n shop",
    "backup": "kubectl djangostack backup shop",
    "restore": "kubectl djangostack restore shop backup-20261203T030000.123456789Z.sql.gz",
    "releases": "kubectl djangostack releases shop",
    "manage": "kubectl djangostack manage shop -- createsuperuser --noinput --username=admin",
    "logs": "kubectl djangostack logs shop --tier worker --pool default --tail 50",
}


def _request_id() -> str:
    """A new value for a request annotation: when, and a random part for two in a second."""
    now = datetime.datetime.now(datetime.UTC).strftime(TIME_FORMAT)
    return f"{now}-{secrets.token_hex(3)}"


def cmd_status(session: Session, name: str) -> int:
    stack = session.stack_object(name)
    print(views.status_view(stack, session.pod_lines(name)))
    return 0


def cmd_backup(session: Session, name: str) -> int:
    stack = session.stack(name)
    if not stack.spec.backup.enabled:
        raise PluginError(f"{name} has spec.backup.enabled false: there is no backup volume")
    request = _request_id()
    job = stack.names.on_demand_backup_job(request)
    session.request_backup(name, request)
    print(f"backup requested: Job {job}", file=sys.stderr)
    if session.wait_job(job) == "failed":
        raise PluginError(f"Job {job}: {job_failure(session.job(job))[1]}")
    summary = views.backup_summary(session.termination_message(job))
    print(
        f"{summary.get('name', '(file name not reported)')} ({summary.get('sizeBytes', '?')} bytes)"
    )
    return 0


def cmd_restore(session: Session, name: str, source: str) -> int:
    stack = session.stack(name)
    if stack.spec.database.restore_from == source:
        raise PluginError(
            f"spec.database.restoreFrom already is {source}: a value restores once; restore"
            " another file, or latest"
        )
    generation = session.request_restore(name, source)
    job = stack.names.restore_job(source)
    print(f"restore of {source} requested: Job {job}", file=sys.stderr)
    if session.wait_job(job) == "failed":
        raise PluginError(f"Job {job}: {job_failure(session.job(job))[1]}")

    def serving_again() -> dict[str, object] | None:
        status = session.stack_object(name).get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        return status if ready and (status.get("observedGeneration") or 0) >= generation else None

    status = session.wait(f"{name} to be Ready after the restore", serving_again)
    print(f"restored {source}; {name} is Ready on {status.get('releasedImage')}")
    return 0


def cmd_releases(session: Session, name: str) -> int:
    stack = session.stack(name)
    print(views.releases_view(session.revisions(stack), session.migration_jobs(stack)))
    return 0


def cmd_manage(session: Session, name: str, arguments: list[str]) -> int:
    if not arguments:
        raise PluginError("no manage.py command given (put it after --)")
    stack = session.stack(name)
    job = stack.names.manage_job(_request_id())
    session.start_manage(stack, job, arguments)
    print(f"Job {job}: manage.py {' '.join(arguments)}", file=sys.stderr)

    def started() -> str | None:
        pod = session.job_pod(job) or {}
        running = pod.get("status", {}).get("phase") in ("Running", "Succeeded", "Failed")
        return str(pod["metadata"]["name"]) if running else None

    pod = session.wait(f"the pod of Job {job} to start", started)
    for chunk in session.logs(pod, tail=None, follow=True):
        sys.stdout.write(chunk)
    sys.stdout.flush()
    if session.wait_job(job) == "succeeded":
        return 0
    code = session.exit_code(job)
    print(f"Job {job}: {job_failure(session.job(job))[1]}", file=sys.stderr)
    return code if code else EXIT_FAILED


def cmd_logs(session: Session, name: str, tier: str, pool: str | None, tail: int) -> int:
    stack: DjangoStack = session.stack(name)
    labels = {COMPONENT: views.LOG_TIERS[tier]}
    if pool is not None:
        if pool not in {p.name for p in stack.spec.workers}:
            raise PluginError(f"{name} has no worker pool {pool}")
        labels[meta.POOL_LABEL] = pool
    pods = session.pods(name, **labels)
    if not pods:
        raise PluginError(f"no {tier} pods of {name} in namespace {session.namespace}")
    for pod in pods:
        print(f"==> {pod['metadata']['name']} <==")
        for chunk in session.logs(pod["metadata"]["name"], tail=tail):
            sys.stdout.write(chunk)
        sys.stdout.write("\n")
    return 0


def _connection_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """-n, --kubeconfig, --context, --timeout: before or after the command alike."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "-n", "--namespace", default=default, help="namespace of the stack (default: the context's)"
    )
    parser.add_argument("--kubeconfig", default=default, help="kubeconfig file ($KUBECONFIG)")
    parser.add_argument("--context", default=default, help="kubeconfig context")
    parser.add_argument(
        "--timeout",
        type=float,
        default=argparse.SUPPRESS if suppress else 600,
        help="seconds to wait for a backup, restore or command (default 600)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubectl djangostack",
        description="Day-two commands for DjangoStacks.",
        epilog="examples:\n" + "\n".join(f"  {example}" for example in EXAMPLES.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kubectl-djangostack {__version__}")
    _connection_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True)
    for command, summary in SUMMARIES.items():
        sub = commands.add_parser(
            command,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=f"example:\n  {EXAMPLES[command]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("name", metavar="NAME", help="the DjangoStack")
        _connection_options(sub, suppress=True)
        if command == "restore":
            sub.add_argument("file", metavar="FILE", help="a backup file name, or latest")
        if command == "logs":
            sub.add_argument("--tier", required=True, choices=sorted(views.LOG_TIERS))
            sub.add_argument("--pool", help="only this worker pool (with --tier worker)")
            sub.add_argument("--tail", type=int, default=100, help="lines per pod (default 100)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    # What follows `--` is manage.py's, never ours (argparse would read -n or --help there).
    command_words: list[str] = []
    if "--" in words:
        cut = words.index("--")
        words, command_words = words[:cut], words[cut + 1 :]
    parser = build_parser()
    args = parser.parse_args(words)
    if command_words and args.command != "manage":
        parser.error(f"{args.command} takes no arguments after --")
    try:
        api_client, context_namespace = connect(args.kubeconfig, args.context)
        session = Session(api_client, args.namespace or context_namespace, args.timeout)
        if args.command == "status":
            return cmd_status(session, args.name)
        if args.command == "backup":
            return cmd_backup(session, args.name)
        if args.command == "restore":
            return cmd_restore(session, args.name, args.file)
        if args.command == "releases":
            return cmd_releases(session, args.name)
        if args.command == "manage":
            return cmd_manage(session, args.name, command_words)
        return cmd_logs(session, args.name, args.tier, args.pool, args.tail)
    except (PluginError, InvalidStackError) as error:
        print(f"kubectl djangostack: {error}", file=sys.stderr)
        return EXIT_FAILED
    except ApiException as error:
        print(f"kubectl djangostack: {api_message(error)}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
