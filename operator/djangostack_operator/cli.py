"""The `djangostack` command: `render FILE`, `crd`.

Exit codes: 0 success, 2 invalid input (each problem printed as `FILE: path: message`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from djangostack_operator import yamlio
from djangostack_operator.crd import build_crd
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="djangostack", description="The DjangoStack operator and its offline tools."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    render_parser = commands.add_parser(
        "render", help="print, offline, every object the operator would create (YAML)"
    )
    render_parser.add_argument(
        "files", nargs="+", metavar="FILE", help="DjangoStack YAML, - for stdin"
    )
    commands.add_parser("crd", help="print the CustomResourceDefinition generated from the models")
    args = parser.parse_args(argv)
    if args.command == "render":
        return cmd_render(args.files)
    return cmd_crd()


if __name__ == "__main__":
    sys.exit(main())
