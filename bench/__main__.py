"""`python -m bench`: run the burst lab and write bench/results/latest.{json,md,png}."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from bench import settings as S
from bench.auth import AUTH_MODELS, DEFAULT_AUTH_MODEL


def _levels(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma list of integers: {text!r}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"need integers >= 1: {text!r}")
    return levels


def _add_fair_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fair-concurrency",
        type=int,
        help=f"environments in the fair direct-vs-pooled run ({S.FAIR_CONCURRENCY}; 0 = skip)",
    )
    parser.add_argument(
        "--fair-duration",
        type=float,
        help=f"seconds per fair round, warm-up included ({S.FAIR_DURATION_S:g})",
    )
    parser.add_argument(
        "--fair-warmup",
        type=float,
        help=f"seconds left out at the start of each fair round ({S.FAIR_WARMUP_S:g})",
    )
    parser.add_argument(
        "--fair-rounds",
        type=int,
        help=f"rounds of each path, ABBA order ({S.FAIR_ROUNDS})",
    )


# The read split's options: (flag, type, default, what it sets).
READ_SPLIT_OPTIONS: tuple[tuple[str, type, float, str], ...] = (
    ("--read-split-concurrency", int, S.READ_SPLIT_CONCURRENCY, "environments in the read split"),
    ("--read-split-duration", float, S.READ_SPLIT_DURATION_S, "seconds per round, with warm-up"),
    ("--read-split-warmup", float, S.READ_SPLIT_WARMUP_S, "seconds left out of round latencies"),
    ("--read-split-rounds", int, S.READ_SPLIT_ROUNDS, "rounds of each path, ABBA order"),
)


def _add_read_split_args(parser: argparse.ArgumentParser) -> None:
    for flag, kind, default, text in READ_SPLIT_OPTIONS:
        parser.add_argument(flag, type=kind, default=default, help=f"{text} ({default:g})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Burst lab: the orders functions' real code path against a local PostgreSQL "
            "(direct) and PgBouncer (standing in for RDS Proxy), side by side."
        ),
    )
    parser.add_argument("--preset", choices=sorted(S.PRESETS), help="quick or smoke settings")
    parser.add_argument(
        "--concurrency",
        type=_levels,
        help="environments at the top (500); a comma list (1000,1500,2000) sweeps the levels",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="passes per level; the report gives each figure's median and spread (1)",
    )
    parser.add_argument("--duration", type=float, help="seconds per scenario, ramp included (30)")
    parser.add_argument("--ramp", type=float, help="seconds from a few environments to N (10)")
    parser.add_argument("--rate", type=float, help="req/s at hold (default 800, the seed's peak)")
    parser.add_argument(
        "--scenarios",
        default=",".join(S.SCENARIO_CHOICES),
        help=f"comma-separated subset of: {', '.join(S.SCENARIO_CHOICES)}",
    )
    parser.add_argument("--pool-k", type=int, default=2, help="pool size per env in direct-pool-k")
    parser.add_argument("--max-connections", type=int, help="PostgreSQL max_connections (100)")
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes sharing the environments (2)"
    )
    _add_fair_args(parser)
    _add_read_split_args(parser)
    parser.add_argument(
        "--auth",
        choices=AUTH_MODELS,
        default=DEFAULT_AUTH_MODEL,
        help=(
            "auth cost model of every connect (direct and pooled): iam-like = TLS verify-full + "
            "SCRAM with a 16-iteration verifier, costing what an IAM-token login costs; "
            f"scram-4096 = PostgreSQL's default verifier (PBKDF2 4096 rounds per connect) "
            f"({DEFAULT_AUTH_MODEL})"
        ),
    )
    parser.add_argument(
        "--pooler-min-pool",
        type=int,
        default=None,
        help="PgBouncer min_pool_size: server connections kept open, like RDS Proxy's idle "
        f"pool ({S.POOLER_MIN_POOL})",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed of the request mix")
    parser.add_argument("--out", type=Path, default=S.RESULTS_DIR, help="output directory")
    parser.add_argument("--no-chart", action="store_true", help="skip latest.png")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    return parser.parse_args(argv)


def _picker(args: argparse.Namespace) -> Callable[[str, object], object]:
    preset = S.PRESETS.get(args.preset or "", {})

    def pick(name: str, default: object) -> object:
        value = getattr(args, name)
        return value if value is not None else preset.get(name, default)

    return pick


def _scenarios(text: str) -> tuple[str, ...]:
    scenarios = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in scenarios if s not in S.SCENARIO_CHOICES]
    if unknown or not scenarios:
        allowed = ", ".join(S.SCENARIO_CHOICES)
        raise SystemExit(f"--scenarios: unknown {unknown}; allowed: {allowed}")
    return scenarios


def _check_fair(max_connections: int, concurrency: int, warmup: float, duration: float,
                rounds: int) -> None:  # fmt: skip
    # Direct must serve every fair environment: max_connections minus the 3 superuser slots
    # minus the sampler's connection.
    direct_room = max_connections - 3 - 1
    if concurrency and not (
        0 < concurrency <= direct_room and 0 <= warmup < duration and rounds >= 1
    ):
        raise SystemExit(
            f"need 0 < --fair-concurrency <= {direct_room} (direct must serve them all), "
            "0 <= --fair-warmup < --fair-duration, --fair-rounds >= 1"
        )


def _check_read_split(args: argparse.Namespace) -> None:
    if not (
        1 <= args.read_split_concurrency <= 2000
        and 0 <= args.read_split_warmup < args.read_split_duration <= 120
        and 1 <= args.read_split_rounds <= 10
    ):
        raise SystemExit(
            "need 1 <= --read-split-concurrency <= 2000, 0 <= --read-split-warmup < "
            "--read-split-duration <= 120, 1 <= --read-split-rounds <= 10"
        )


def build_settings(args: argparse.Namespace) -> S.BenchSettings:
    pick = _picker(args)
    raw_levels = pick("concurrency", (S.SEED_CONCURRENCY,))
    levels = raw_levels if isinstance(raw_levels, tuple) else (int(str(raw_levels)),)
    duration = float(str(pick("duration", 30.0)))
    ramp = float(str(pick("ramp", 10.0)))
    rate = pick("rate", None)
    max_connections = int(str(pick("max_connections", 100)))
    if duration <= 0 or not 0 <= ramp < duration or args.pool_k < 1 or args.repeat < 1:
        raise SystemExit("need --duration > 0, 0 <= --ramp < --duration, --pool-k/--repeat >= 1")
    if not 10 <= max_connections <= 5000:
        raise SystemExit(f"--max-connections={max_connections} out of range (10..5000)")
    fair_concurrency = int(str(pick("fair_concurrency", S.FAIR_CONCURRENCY)))
    fair_duration = float(str(pick("fair_duration", S.FAIR_DURATION_S)))
    fair_warmup = float(str(pick("fair_warmup", S.FAIR_WARMUP_S)))
    fair_rounds = int(str(pick("fair_rounds", S.FAIR_ROUNDS)))
    _check_fair(max_connections, fair_concurrency, fair_warmup, fair_duration, fair_rounds)
    _check_read_split(args)
    return S.BenchSettings(
        concurrency=int(levels[0]),
        levels=tuple(int(n) for n in levels) if len(levels) > 1 else (),
        repeat=args.repeat,
        duration_s=duration,
        ramp_s=ramp,
        rate_rps=None if rate is None else float(str(rate)),
        scenarios=_scenarios(args.scenarios),
        pool_k=args.pool_k,
        max_connections=max_connections,
        workers=max(1, args.workers),
        seed=args.seed,
        out_dir=args.out,
        chart=not args.no_chart,
        progress=not args.quiet,
        proxy=S.load_proxy_model(),
        fair_concurrency=max(0, fair_concurrency),
        fair_duration_s=fair_duration,
        fair_warmup_s=fair_warmup,
        fair_rounds=fair_rounds,
        auth_model=args.auth,
        pooler_min_pool=S.POOLER_MIN_POOL if args.pooler_min_pool is None else args.pooler_min_pool,
        read_split_concurrency=args.read_split_concurrency,
        read_split_duration_s=args.read_split_duration,
        read_split_warmup_s=args.read_split_warmup,
        read_split_rounds=args.read_split_rounds,
    )


def main(argv: list[str] | None = None) -> int:
    settings = build_settings(parse_args(argv))
    from bench.console import Interrupted  # noqa: PLC0415
    from bench.report import markdown, write_outputs  # noqa: PLC0415
    from bench.runner import Bench  # noqa: PLC0415

    try:
        result = Bench(settings).run()
    except Interrupted as exc:
        print(f"\ninterrupted ({exc}): workers stopped, servers stopped and removed", flush=True)
        return 130
    print()
    print(markdown(result), end="")
    if settings.write_files:
        for path in write_outputs(result, settings.out_dir, chart=settings.chart):
            print(f"wrote {path.relative_to(S.ROOT) if path.is_relative_to(S.ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
