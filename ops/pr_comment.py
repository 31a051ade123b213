"""The PR diff workflow's comment: every environment's `cdk diff` in one body (stdlib only).

`python -m ops.pr_comment DIR ENV...` reads DIR/<env>.txt (the output of `cdk diff --method
template` for that environment) and prints the comment's markdown. The first line is a marker
the workflow finds the previous comment by, so one comment is updated rather than one posted
per push.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

MARKER = "<!-- ci:cdk-diff -->"
# GitHub refuses comment bodies longer than 65536 characters; keep room for the frame.
MAX_BODY = 65_000
APPROXIMATE = (
    "Compared with `cdk diff --method template` through the CDK lookup role (read-only): no "
    "change set is created, so **replacement information is approximate**; CloudFormation "
    "decides replacements only when it builds the change set at deploy time."
)
CUT = "\n... (cut here: the whole diff is in the job log)"


def _section(env: str, text: str | None) -> str:
    if text is None:
        return f"**{env}**: no diff (the job failed or was skipped: see the run)\n\n"
    return f"<details><summary><b>{env}</b></summary>\n\n```diff\n{text}\n```\n</details>\n\n"


def render(diffs: Mapping[str, str | None], run_url: str = "") -> str:
    """One section per environment, in the given order (None: that environment's diff is
    missing); each diff cut to an equal share of what GitHub accepts."""
    head = "\n".join([MARKER, "### `cdk diff` per environment", "", APPROXIMATE, ""]) + "\n"
    if run_url:
        head += f"Run: {run_url}\n\n"
    frame = len(head) + sum(
        len(_section(env, "" if t is not None else None)) for env, t in diffs.items()
    )
    present = sum(text is not None for text in diffs.values())
    share = (MAX_BODY - frame) // max(present, 1)
    body = head
    for env, text in diffs.items():
        shown = None if text is None else text.strip()
        if shown is not None and len(shown) > share:
            shown = shown[: max(share - len(CUT), 0)] + CUT
        body += _section(env, shown)
    return body


def read_diffs(directory: Path, envs: Sequence[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for env in envs:
        path = directory / f"{env}.txt"
        found[env] = path.read_text(errors="replace") if path.is_file() else None
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.pr_comment", description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("envs", nargs="+", help="environments, in the deploy order")
    parser.add_argument("--run-url", default="")
    args = parser.parse_args(argv)
    sys.stdout.write(render(read_diffs(args.directory, args.envs), args.run_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
