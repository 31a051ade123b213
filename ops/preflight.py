"""Read-only check of the target account and region before a deploy (make preflight).

Exit 0 when no check fails (warnings allowed), 1 when one fails, 2 with one line on stderr when
the checks cannot run (no credentials, no region, an invalid configuration). `--offline` runs
only the checks that need no AWS call (make deploy with SKIP_PREFLIGHT=1).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from ops.aws import (
    ACCESS_DENIED,
    AUTH_ERRORS,
    BASE_CONFIG,
    StackState,
    add_common_arguments,
    describe_stack,
    open_session,
    run_guarded,
)
from ops.cdk_app import BootstrapRequirement, synthesized_requirement
from ops.cli import fail
from ops.preflight_checks import (
    FAIL,
    PASS,
    WARN,
    PreflightClients,
    Result,
    Target,
    check_alarm_topic,
    check_availability_zones,
    check_bootstrap,
    check_engine_version,
    check_instance_class,
    check_lambda_concurrency,
    check_proxy_quota,
    check_rds_quotas,
    check_serverless_capacity,
    check_stack,
    check_vpc_quota,
    error_code,
)
from stacks.config import AppConfig
from stacks.loader import load

# The account checks after the stacks are read, in table order.
CHECKS: tuple[tuple[str, Callable[[PreflightClients, Target], Result | None]], ...] = (
    ("lambda concurrency", check_lambda_concurrency),
    ("postgres version", check_engine_version),
    ("instance class", check_instance_class),
    ("serverless capacity", check_serverless_capacity),
    ("availability zones", check_availability_zones),
    ("rds proxy quota", check_proxy_quota),
    ("rds quotas", check_rds_quotas),
    ("vpc quota", check_vpc_quota),
    ("alarm topic", check_alarm_topic),
)


def make_preflight_clients(region: str | None, profile: str | None) -> PreflightClients:
    opened = open_session(region, profile)
    session = opened.session
    return PreflightClients(
        region=opened.region,
        sts=session.client("sts", config=BASE_CONFIG),
        ssm=session.client("ssm", config=BASE_CONFIG),
        cloudformation=session.client("cloudformation", config=BASE_CONFIG),
        lambda_=session.client("lambda", config=BASE_CONFIG),
        rds=session.client("rds", config=BASE_CONFIG),
        ec2=session.client("ec2", config=BASE_CONFIG),
        sns=session.client("sns", config=BASE_CONFIG),
        service_quotas=session.client("service-quotas", config=BASE_CONFIG),
    )


R = TypeVar("R", Result, Result | None)


def not_checked(check: str, exc: ClientError) -> Result:
    """A warning saying what could not be checked; bad credentials re-raise (exit 2)."""
    code = error_code(exc)
    if code in AUTH_ERRORS:
        raise exc
    operation = exc.operation_name
    if code in ACCESS_DENIED:
        detail = f"not checked: {operation} was denied ({code})"
        fix = f"allow {operation} to the identity running preflight, or check it by hand"
    else:
        detail = f"not checked: {operation} failed: {code}"
        fix = "rerun make preflight; check it by hand if this persists"
    return Result(check, WARN, detail, fix)


def guarded(check: str, run: Callable[[], R]) -> R | Result:
    """Run one check; an AWS error turns it into a warning (see not_checked)."""
    try:
        return run()
    except ClientError as exc:
        return not_checked(check, exc)


def check_alarm_destination(config: AppConfig) -> Result:
    """No AWS call: a prod deploy without an alarm destination must not pass silently."""
    check = "alarm destination"
    monitoring = config.monitoring
    missing = monitoring.missing_destination(config.env_name)
    if missing is None:
        targets = [f"e-mail {monitoring.alarm_email}"] * (monitoring.alarm_email is not None)
        targets += [f"topic {monitoring.alarm_topic_arn}"] * (
            monitoring.alarm_topic_arn is not None
        )
        return Result(check, PASS, "alarms notify " + " and ".join(targets))
    fix = (
        f"set environments.{config.env_name}.monitoring.alarm_email or alarm_topic_arn in cdk.json"
    )
    return Result(check, FAIL if monitoring.alarm_destination_required else WARN, missing, fix)


def _read_stack(clients: PreflightClients, name: str) -> tuple[StackState | None, Result]:
    """The stack (None: absent or unreadable, then the checks assume it is absent)."""
    try:
        stack = describe_stack(clients.cloudformation, name)
    except ClientError as exc:
        return None, not_checked(f"stack {name}", exc)
    return stack, check_stack(name, stack, clients.region)


def account_checks(
    clients: PreflightClients,
    config: AppConfig,
    bootstrap: Callable[[], BootstrapRequirement],
) -> list[Result]:
    """Every check, in table order (the AWS ones after the identity is known)."""
    identity = clients.sts.get_caller_identity()
    account = str(identity["Account"])
    detail = f"{identity['Arn']} (account {account}) in {clients.region}"
    results = [Result("credentials", PASS, detail), check_alarm_destination(config)]
    data, data_result = _read_stack(clients, config.data_stack_name)
    service, service_result = _read_stack(clients, config.service_stack_name)
    target = Target(config, clients.region, account, data, service)
    results.append(_bootstrap_result(clients, target, bootstrap))
    results += [data_result, service_result]
    for name, check in CHECKS:
        result = guarded(name, partial(check, clients, target))
        if result is not None:
            results.append(result)
    return results


def _bootstrap_result(
    clients: PreflightClients, target: Target, bootstrap: Callable[[], BootstrapRequirement]
) -> Result:
    try:
        need = bootstrap()
    except Exception as exc:  # jsii and cdk-nag raise anything: report it, do not crash
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        detail = f"the CDK app did not synthesize, so its bootstrap needs are unknown: {first}"
        fix = f"run make synth ENV={target.config.env_name} and fix what it reports"
        return Result("cdk bootstrap", FAIL, detail, fix)
    return guarded("cdk bootstrap", partial(check_bootstrap, clients, target, need))


def print_table(results: Sequence[Result], heading: str) -> int:
    """Print the table and a summary line; the exit code: 1 when a check failed, else 0."""
    print(heading)
    width = max(len(r.check) for r in results)
    for r in results:
        print(f"  {r.status.upper():<5} {r.check:<{width}}  {r.detail}")
        if r.fix and r.status != PASS:
            print(f"  {'':<5} {'':<{width}}  fix: {r.fix}")
    counts = {s: sum(r.status == s for r in results) for s in (FAIL, WARN, PASS)}
    print(
        f"preflight: {counts[FAIL]} failed, {counts[WARN]} warning(s), {counts[PASS]} passed"
        + (" - fix the failures before deploying" if counts[FAIL] else "")
    )
    return 1 if counts[FAIL] else 0


def main(
    argv: Sequence[str] | None = None,
    *,
    clients: PreflightClients | None = None,
    bootstrap: Callable[[], BootstrapRequirement] | None = None,
    context: Mapping[str, Any] | None = None,
) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.preflight", description=__doc__)
    add_common_arguments(parser, context)
    parser.add_argument(
        "--offline", action="store_true", help="only the checks that need no AWS call"
    )
    args = parser.parse_args(argv)
    try:
        config = load(args.env, context)
    except ValueError as exc:
        return fail(f"configuration: {exc}")
    app = config.project.app_name
    if args.offline:
        heading = f"preflight (offline: configuration only) {app}-{config.env_name}"
        return print_table([check_alarm_destination(config)], heading)

    def body(resolved: PreflightClients) -> int:
        results = account_checks(
            resolved, config, bootstrap or (lambda: synthesized_requirement(config))
        )
        return print_table(results, f"preflight {app}-{config.env_name} in {resolved.region}")

    return run_guarded(clients, lambda: make_preflight_clients(args.region, args.profile), body)


if __name__ == "__main__":
    sys.exit(main())
