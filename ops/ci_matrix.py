"""The deploy plan of cdk.json's `ci` section, as GitHub Actions step outputs (`key=json` lines).

The workflows (.github/workflows/deploy.yml, pr-diff.yml) append this to $GITHUB_OUTPUT, so the
environments, their order, stacks and role names come from cdk.json, never from a workflow
file. Exit 2 with one line on stderr when cdk.json has no valid `ci` section.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ops.cli import fail
from stacks.ci_plan import CiPlan
from stacks.loader import load_ci


def outputs(plan: CiPlan) -> dict[str, Any]:
    """What the jobs read: account, region, branch, the diff role and one matrix row per
    environment (role ARNs in full: the workflows build no names)."""
    rows = [
        {
            "env": t.env,
            "github_environment": t.github_environment,
            # space-separated: `cdk deploy/diff` takes the stacks as arguments
            "stacks": " ".join(t.stacks),
            "deploy_role_arn": plan.role_arn(t.deploy_role),
            "smoke_role_arn": plan.role_arn(t.smoke_role),
        }
        for t in plan.targets
    ]
    return {
        "account": plan.account,
        "region": plan.region,
        "branch": plan.branch,
        "diff_role_arn": plan.role_arn(plan.diff_role),
        "environments": rows,
    }


def github_output(values: Mapping[str, Any]) -> str:
    """`key=value` lines; strings as they are, the rest as compact JSON (for fromJSON)."""
    lines = []
    for key, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        lines.append(f"{key}={text}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, context: Mapping[str, Any] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.ci_matrix", description=__doc__)
    parser.parse_args(argv)
    try:
        plan = load_ci(context)
    except ValueError as exc:
        return fail(f"configuration: {exc}")
    if plan is None:
        return fail("cdk.json has no `ci` section: nothing to deploy from CI (docs/deploy.md)")
    sys.stdout.write(github_output(outputs(plan)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
