"""`make ci-access`: deploy the CI access stack (GitHub OIDC roles) with your own credentials.

Checks first that credentials are configured and belong to cdk.json's `ci.account` (one line on
stderr and exit 2 otherwise, before the CDK CLI starts), then runs, in `ci.region`,
`cdk deploy <app>-CiAccess` and nothing else: the environment stacks are `make deploy`'s. The
CLI asks before it changes IAM (review the trust policies it shows).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ops.aws import BASE_CONFIG, OpsError, aws_errors, open_session
from ops.cli import fail
from stacks.ci_plan import CiPlan
from stacks.loader import PROJECT_ROOT, load_ci

CDK = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"


@dataclass(frozen=True)
class Caller:
    """Who runs the deploy: the STS identity of the configured credentials, and the region."""

    account: str
    arn: str
    region: str


def identify(region: str | None, profile: str | None) -> Caller:
    """GetCallerIdentity with the default chain; OpsError for what the user must fix."""
    with aws_errors(region):
        opened = open_session(region, profile)
        sts = opened.session.client("sts", config=BASE_CONFIG)
        identity = sts.get_caller_identity()
    return Caller(str(identity["Account"]), str(identity["Arn"]), opened.region)


def deploy_command(plan: CiPlan, profile: str | None) -> list[str]:
    """The CI access stack by name, nothing else (no --all, no environment stack)."""
    return [str(CDK), "deploy", plan.stack_name, *(["--profile", profile] if profile else [])]


def refuse_ci_role(plan: CiPlan, caller: Caller) -> None:
    """The roles this stack defines must not redeploy their own trust."""
    roles = {plan.diff_role, *(t.deploy_role for t in plan.targets)}
    assumed = caller.arn.split(":assumed-role/", 1)[-1].split("/", 1)[0]
    if ":assumed-role/" in caller.arn and assumed in roles:
        raise OpsError(
            f"{caller.arn} is a CI role of this stack: run make ci-access with your own "
            "(administrator) credentials"
        )


def refuse_other_account(plan: CiPlan, caller: Caller) -> None:
    if caller.account != plan.account:
        raise OpsError(
            f"your credentials are for account {caller.account}, cdk.json ci.account is "
            f"{plan.account}: use the account's credentials, or fix ci.account"
        )


Runner = Callable[..., "subprocess.CompletedProcess[Any]"]


def main(
    argv: Sequence[str] | None = None,
    *,
    context: Mapping[str, Any] | None = None,
    caller: Callable[[str | None, str | None], Caller] = identify,
    run: Runner = subprocess.run,
) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.ci_access", description=__doc__)
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE / default chain)")
    args = parser.parse_args(argv)
    try:
        plan = load_ci(context)
        if plan is None:
            raise OpsError("cdk.json has no `ci` section: nothing to deploy (docs/deploy.md)")
        who = caller(plan.region, args.profile)
        refuse_other_account(plan, who)
        refuse_ci_role(plan, who)
        if not CDK.exists():
            raise OpsError(f"{CDK.relative_to(PROJECT_ROOT)} is missing: run make setup")
    except OpsError as exc:
        return fail(str(exc))
    except ValueError as exc:
        return fail(f"configuration: {exc}")
    print(
        f"ci-access: {plan.stack_name} for {plan.repository} into account {who.account} "
        f"({who.region}) as {who.arn}"
    )
    env = {**os.environ, "AWS_REGION": plan.region}
    return run(
        deploy_command(plan, args.profile), cwd=PROJECT_ROOT, env=env, check=False
    ).returncode


if __name__ == "__main__":
    sys.exit(main())
