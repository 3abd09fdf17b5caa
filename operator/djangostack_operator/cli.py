"""The `djangostack` command: `render FILE`, `crd`, `run`.

Exit codes: 0 success, 1 no cluster to run against, 2 invalid input (each problem printed as
`FILE: path: message`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from djangostack_operator import __version__, yamlio
from djangostack_operator.crd import build_crd
from djangostack_operator.policy import DEFAULT_INGRESS_ANNOTATIONS, Policy
from djangostack_operator.render import render
from djangostack_operator.validation import InvalidStackError, parse_stack

EXIT_INVALID = 2


def _read(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    return Path(source).read_text()


def cmd_render(files: list[str]) -> int:
    objects = []
    problems: list[str] = []
    for source in files:
        try:
            documents = yamlio.load_all(_read(source))
        except OSError as error:
            problems.append(f"{source}: cannot read: {error.strerror or error}")
            continue
        except yaml.YAMLError as error:
            problems.append(f"{source}: not valid YAML: {error}")
            continue
        if not documents:
            problems.append(f"{source}: no DjangoStack in the file")
        for document in documents:
            try:
                objects.extend(render(parse_stack(document)))
            except InvalidStackError as error:
                problems.extend(f"{source}: {problem}" for problem in error.problems)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return EXIT_INVALID
    sys.stdout.write(yamlio.dump_all(objects))
    return 0


def cmd_crd() -> int:
    sys.stdout.write(yamlio.dump(build_crd()))
    return 0


EXIT_NO_CLUSTER = 1

RENDER_EXAMPLE = """\
examples:
  djangostack render shop.yaml                 # every child object, as YAML
  djangostack render shop.yaml | kubectl apply --dry-run=server -f -
  cat shop.yaml | djangostack render -
"""
CRD_EXAMPLE = """\
examples:
  djangostack crd | kubectl apply --server-side -f -
"""
RUN_EXAMPLE = """\
examples:
  djangostack run                              # every namespace, with $KUBECONFIG
  djangostack run -n shop -n 'team-*' --leader-elect --log-format=json

Exits 1 at once, with one line, when there is neither an in-cluster service account nor a
usable kubeconfig.
"""


# What each subcommand does: its line in `djangostack --help` and the start of its own help.
SUMMARIES = {
    "render": "print, offline, every object the operator would create (YAML)",
    "crd": "print the CustomResourceDefinition generated from the models",
    "run": "run the operator: in a pod with its service account, elsewhere with $KUBECONFIG",
}


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, example: str
) -> argparse.ArgumentParser:
    summary = SUMMARIES[name]
    return commands.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=example,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="djangostack",
        description="The DjangoStack operator and its offline tools.",
        epilog="examples:\n  djangostack render shop.yaml\n  djangostack run -n shop\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"djangostack {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    render_parser = _command(commands, "render", RENDER_EXAMPLE)
    render_parser.add_argument(
        "files", nargs="+", metavar="FILE", help="DjangoStack YAML, - for stdin"
    )
    _command(commands, "crd", CRD_EXAMPLE)
    run_parser = _command(commands, "run", RUN_EXAMPLE)
    scope = run_parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch this namespace (repeatable; globs like 'team-*' work)",
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    run_parser.add_argument("--metrics-port", type=int, default=9090, help="0 disables")
    run_parser.add_argument("--health-port", type=int, default=8080, help="0 disables /healthz")
    run_parser.add_argument("--log-format", choices=["json", "plain"], default="plain")
    run_parser.add_argument(
        "--resync-seconds", type=float, default=30.0, help="how often every stack is re-checked"
    )
    run_parser.add_argument(
        "--workers", type=int, default=4, help="stacks reconciled at the same time"
    )
    run_parser.add_argument(
        "--leader-elect",
        action="store_true",
        help="reconcile only while holding a coordination.k8s.io Lease (for 2+ replicas)",
    )
    run_parser.add_argument("--lease-name", default="djangostack-operator")
    run_parser.add_argument(
        "--lease-namespace", default="", help="default: the pod's namespace, else default"
    )
    run_parser.add_argument(
        "--allow-ingress-annotation",
        action="append",
        default=[],
        metavar="KEY",
        help="an Ingress annotation stacks may set (repeatable; 'prefix/' allows every key of"
        " the prefix, '*' any key); default: " + ", ".join(DEFAULT_INGRESS_ANNOTATIONS),
    )
    run_parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "render":
        return cmd_render(args.files)
    if args.command == "run":
        return cmd_run(args)
    return cmd_crd()


def cmd_run(args: argparse.Namespace) -> int:
    from djangostack_operator import runner  # noqa: PLC0415 - kopf loads only to run
    from djangostack_operator.controller import Options  # noqa: PLC0415
    from djangostack_operator.kube import NoCredentialsError, load_api_client  # noqa: PLC0415

    try:
        api_client = load_api_client()
    except NoCredentialsError as error:
        # Nothing a retry could fix: say so once, instead of kopf's endless login attempts.
        print(f"djangostack run: {error}", file=sys.stderr)
        return EXIT_NO_CLUSTER
    options = Options(
        namespaces=tuple(args.namespace),
        all_namespaces=args.all_namespaces or not args.namespace,
        resync_seconds=args.resync_seconds,
        workers=max(1, args.workers),
        leader_election=args.leader_elect,
        lease_name=args.lease_name,
        lease_namespace=args.lease_namespace,
        policy=Policy(
            tuple(args.allow_ingress_annotation) or DEFAULT_INGRESS_ANNOTATIONS,
        ),
    )
    runner.run(
        options,
        api_client,
        metrics_port=args.metrics_port,
        health_port=args.health_port,
        log_format=args.log_format,
        verbose=args.verbose,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
