"""Print the stacks of one environment, by name (make deploy, make diff, make destroy use them).

Never `--all`: the app also holds the CI access stack when cdk.json has a `ci` section, and only
`make ci-access` may deploy it. Exit 2 with one line on stderr when the configuration is invalid.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ops.cli import fail
from stacks.loader import environment_names, load


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.stack_names", description=__doc__)
    parser.add_argument("--env", help="a key of cdk.json environments (default: default_env)")
    args = parser.parse_args(argv)
    try:
        if args.env is not None and args.env not in environment_names():
            return fail(f"env: {args.env!r} is not a key of cdk.json environments")
        print(" ".join(load(args.env).stack_names))
    except ValueError as exc:
        return fail(f"configuration: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
