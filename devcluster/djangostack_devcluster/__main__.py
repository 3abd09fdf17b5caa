"""`python -m djangostack_devcluster tools|images|up|down|status|leftovers|lint` (what
`make tools`, `make images`, `make cluster-up`, `make cluster-down` and `make lint` call)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from djangostack_devcluster import images, manifestlint, tools
from djangostack_devcluster.cluster import ClusterError, LocalCluster
from djangostack_devcluster.node import NodeError
from djangostack_devcluster.processes import ProcessError

DEFAULT_STATE = tools.REPO_ROOT / ".cluster"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m djangostack_devcluster")
    parser.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE, help="default: .cluster/ in the repo"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("tools", help="install every binary (cached) and link them into bin/")
    commands.add_parser("images", help="build every local image (cached; rebuilt on change)")
    up = commands.add_parser("up", help="start the cluster in the background (idempotent)")
    up.add_argument("--kwok-only", action="store_true", help="no real node: kwok's fake node alone")
    commands.add_parser("down", help="stop the processes `up` started, remove what they made")
    commands.add_parser("status", help="exit 0 when the cluster runs and is ready")
    commands.add_parser(
        "leftovers", help="list what a stopped real node left on this machine; exit 1 if any"
    )
    commands.add_parser("lint", help="lint the Helm chart and the rendered manifests")
    args = parser.parse_args(argv)

    try:
        if args.command == "tools":
            toolset = tools.ensure_all()
            tools.link_into(toolset, args.state_dir / "bin")
            for name, path in toolset.as_dict().items():
                print(f"{name:24} {path}")
            return 0
        if args.command == "images":
            for archive in images.ensure_all():
                print(archive)
            return 0
        if args.command == "lint":
            for line in manifestlint.lint_all():
                print(line)
            return 0
        if args.command == "up":
            toolset = tools.ensure_all()
            tools.link_into(toolset, args.state_dir / "bin")
            if not args.kwok_only:
                images.ensure_all()
            cluster = LocalCluster(args.state_dir, toolset, real_node=not args.kwok_only)
            cluster.up()
            print(cluster.kubeconfig)
            return 0
        toolset_or_none = tools.installed()
        if toolset_or_none is None:
            print("the control plane's binaries are not installed (run `make tools`)")
            return 1
        cluster = LocalCluster(args.state_dir, toolset_or_none)
        if args.command == "down":
            cluster.down()
            return 0
        if args.command == "leftovers":
            found = cluster.node.leftovers()
            for item in found:
                print(item)
            return 1 if found else 0
        running = cluster.is_running()
        print(f"running; kubeconfig: {cluster.kubeconfig}" if running else "not running")
        return 0 if running else 1
    except (
        tools.ToolError,
        ClusterError,
        NodeError,
        ProcessError,
        manifestlint.LintError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
