"""`python -m djangostack_operator` runs the operator (same as `djangostack run`)."""

import sys

from djangostack_operator.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
