"""`make budget`: validate one environment of cdk.json, print its connection and timeout budget."""

from __future__ import annotations

import argparse
import sys

from stacks.aws_facts import HTTP_API_MAX_INTEGRATION_TIMEOUT_S, LAMBDA_UNRESERVED_MINIMUM
from stacks.budget import (
    ConnectionBudget,
    connection_budget,
    no_queue_excess,
    pool_label,
    reader_budget,
    timeout_budget,
)
from stacks.config import AppConfig, ConfigError
from stacks.loader import load


def _no_queue(cb: ConnectionBudget, targets: int = 1) -> str:
    """The no-queue rule's figures for one pool (`targets` instances of `cb`'s ceiling each)."""
    ceiling = cb.proxy_ceiling * targets
    on_pool = sum(cb.pool_reserved.values())
    excess = no_queue_excess(cb.pool_reserved, ceiling)
    return (
        f"{'+'.join(cb.pool_reserved)} {on_pool} of ceiling {ceiling} "
        f"({100 * on_pool / ceiling:.0f} %): "
        + ("holds, no borrow waits" if excess == 0 else f"exceeds by {excess}, borrows queue")
    )


def _pool_rows(config: AppConfig, role: str, cb: ConnectionBudget) -> list[tuple[str, str]]:
    """One Aurora target's pool: what RDS Proxy applies MaxConnectionsPercent to."""
    return [
        (f"{role} class", pool_label(config, cb, memory=True)),
        (f"{role} max_connections", f"{cb.max_connections} ({cb.max_connections_source})"),
        (f"{role} pool (server-connection ceiling)", f"{cb.proxy_ceiling}"),
        (f"{role} headroom for admin", f"{cb.headroom} (minimum {cb.headroom_min})"),
    ]


def _aurora_rows(config: AppConfig, cb: ConnectionBudget) -> list[tuple[str, str]]:
    """Writer and reader pools side by side, each with the Lambda concurrency it can carry."""
    db, rb = config.database, reader_budget(config)
    rows = [
        ("engine", f"{db.engine} {db.engine_version}, {db.readers} reader(s)"),
        ("proxy MaxConnectionsPercent", f"{cb.max_connections_percent} % of each target"),
        *_pool_rows(config, "writer", cb),
        ("writer pool carries (writes, idempotency)", f"{cb.proxy_ceiling} concurrent executions"),
    ]
    if rb is not None:
        rows += _pool_rows(config, "reader (each)", rb)
    if rb is not None and config.proxy.read_only_endpoint:
        total = rb.proxy_ceiling * db.readers
        rows.append(("reader pools carry (reads)", f"{total} concurrent executions (all readers)"))
    return rows


def _no_queue_rows(config: AppConfig, cb: ConnectionBudget) -> list[tuple[str, str]]:
    """The no-queue rule per pool: the writer's (the instance's) and the readers' together."""
    if not config.database.is_aurora:
        return [("no-queue rule", _no_queue(cb))]
    rows = [("no-queue rule (writer)", _no_queue(cb))]
    rb = reader_budget(config)
    if rb is not None and config.proxy.read_only_endpoint:
        rows.append(("no-queue rule (readers)", _no_queue(rb, config.database.readers)))
    return rows


def _instance_rows(cb: ConnectionBudget) -> list[tuple[str, str]]:
    return [
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


def report(config: AppConfig) -> str:
    """Readable multi-line report (make budget)."""
    cb, tb = connection_budget(config), timeout_budget(config)
    rows = [("environment", config.env_name)]
    rows += _aurora_rows(config, cb) if config.database.is_aurora else _instance_rows(cb)
    rows += [(f"reserved concurrency: {k}", str(v)) for k, v in cb.reserved_concurrency.items()]
    rows += _no_queue_rows(config, cb)
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
