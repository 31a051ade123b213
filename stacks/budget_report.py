"""`make budget`: validate one environment of cdk.json, print its connection and timeout budget."""

from __future__ import annotations

import argparse
import sys

from stacks.aws_facts import HTTP_API_MAX_INTEGRATION_TIMEOUT_S, LAMBDA_UNRESERVED_MINIMUM
from stacks.budget import connection_budget, no_queue_excess, timeout_budget
from stacks.config import AppConfig, ConfigError
from stacks.loader import load


def report(config: AppConfig) -> str:
    """Readable multi-line report (make budget)."""
    cb, tb = connection_budget(config), timeout_budget(config)
    rows = [
        ("environment", config.env_name),
        ("instance class", f"db.{cb.instance_class} ({cb.memory_gib} GiB nominal)"),
        (
            "default max_connections",
            f"{cb.max_connections} ({cb.max_connections_source}; "
            "LEAST(DBInstanceClassMemory/9531392, 5000))",
        ),
        (
            "proxy MaxConnectionsPercent",
            f"{cb.max_connections_percent} % (allowed 1..{cb.max_percent_allowed} here)",
        ),
        ("proxy server-connection ceiling", f"{cb.proxy_ceiling}"),
        ("proxy idle ceiling", f"{cb.idle_ceiling}"),
        ("headroom for admin/migrations", f"{cb.headroom} (minimum {cb.headroom_min})"),
    ]
    rows += [(f"reserved concurrency: {k}", str(v)) for k, v in cb.reserved_concurrency.items()]
    on_pool = sum(cb.pool_reserved.values())
    excess = no_queue_excess(cb.pool_reserved, cb.proxy_ceiling)
    rows.append(
        (
            "no-queue rule",
            f"{'+'.join(cb.pool_reserved)} {on_pool} of ceiling {cb.proxy_ceiling} "
            f"({100 * on_pool / cb.proxy_ceiling:.0f} %): "
            + ("holds, no borrow waits" if excess == 0 else f"exceeds by {excess}, borrows queue"),
        )
    )
    rows.append(
        (
            "Lambda account limit needed",
            f">= {cb.account_concurrency_needed} (reserved + the "
            f"{LAMBDA_UNRESERVED_MINIMUM.value} Lambda keeps unreserved)",
        )
    )
    rows += [
        ("driver connect timeout", f"{tb.connect_timeout_s:g} s"),
        ("proxy borrow timeout", f"{tb.borrow_timeout_s:g} s"),
        ("statement timeout", f"{tb.statement_timeout_s:g} s"),
        ("worst case (sum)", f"{tb.worst_case_s:g} s"),
        ("Lambda timeout", f"{tb.lambda_timeout_s} s"),
        (
            "API integration timeout",
            f"{tb.api_integration_timeout_s} s (HTTP API max "
            f"{HTTP_API_MAX_INTEGRATION_TIMEOUT_S.value} s)",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    lines.append("status: OK (connection and timeout budgets hold)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Validate one environment and print its connection and timeout budget."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", help="environment in cdk.json (default: project.default_env)")
    args = parser.parse_args(argv)
    try:
        config = load(args.env or None)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"budget check failed: {problem}", file=sys.stderr)
        return 1
    print(report(config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
