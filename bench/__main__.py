"""`python -m bench`: run the burst lab and write bench/results/latest.{json,md,png}."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench import settings as S
from bench.auth import AUTH_MODELS, DEFAULT_AUTH_MODEL


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Burst lab: the orders functions' real code path against a local PostgreSQL "
            "(direct) and PgBouncer (standing in for RDS Proxy), side by side."
        ),
    )
    parser.add_argument("--preset", choices=sorted(S.PRESETS), help="quick or smoke settings")
    parser.add_argument("--concurrency", type=int, help="environments at the top (500)")
    parser.add_argument("--duration", type=float, help="seconds per scenario, ramp included (30)")
    parser.add_argument("--ramp", type=float, help="seconds from a few environments to N (10)")
    parser.add_argument("--rate", type=float, help="req/s at hold (default 800, the seed's peak)")
    parser.add_argument(
        "--scenarios",
        default=",".join(S.SCENARIOS),
        help=f"comma-separated subset of: {', '.join(S.SCENARIOS)}",
    )
    parser.add_argument("--pool-k", type=int, default=2, help="pool size per env in direct-pool-k")
    parser.add_argument("--max-connections", type=int, help="PostgreSQL max_connections (100)")
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes sharing the environments (2)"
    )
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
    parser.add_argument("--seed", type=int, default=42, help="random seed of the request mix")
    parser.add_argument("--out", type=Path, default=S.RESULTS_DIR, help="output directory")
    parser.add_argument("--no-chart", action="store_true", help="skip latest.png")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    return parser.parse_args(argv)


def build_settings(args: argparse.Namespace) -> S.BenchSettings:
    preset = S.PRESETS.get(args.preset or "", {})

    def pick(name: str, default: object) -> object:
        value = getattr(args, name)
        return value if value is not None else preset.get(name, default)

    scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
    unknown = [s for s in scenarios if s not in S.SCENARIOS]
    if unknown or not scenarios:
        raise SystemExit(f"--scenarios: unknown {unknown}; allowed: {', '.join(S.SCENARIOS)}")
    concurrency = int(pick("concurrency", S.SEED_CONCURRENCY))  # type: ignore[call-overload]
    duration = float(pick("duration", 30.0))  # type: ignore[arg-type]
    ramp = float(pick("ramp", 10.0))  # type: ignore[arg-type]
    rate = pick("rate", None)
    max_connections = int(pick("max_connections", 100))  # type: ignore[call-overload]
    if concurrency < 1 or duration <= 0 or not 0 <= ramp < duration or args.pool_k < 1:
        raise SystemExit(
            "need --concurrency >= 1, --duration > 0, 0 <= --ramp < --duration, --pool-k >= 1"
        )
    if not 10 <= max_connections <= 5000:
        raise SystemExit(f"--max-connections={max_connections} out of range (10..5000)")
    fair_concurrency = int(pick("fair_concurrency", S.FAIR_CONCURRENCY))  # type: ignore[call-overload]
    fair_duration = float(pick("fair_duration", S.FAIR_DURATION_S))  # type: ignore[arg-type]
    fair_warmup = float(pick("fair_warmup", S.FAIR_WARMUP_S))  # type: ignore[arg-type]
    fair_rounds = int(pick("fair_rounds", S.FAIR_ROUNDS))  # type: ignore[call-overload]
    # Direct must serve every fair environment: max_connections minus the 3 superuser slots
    # minus the sampler's connection.
    direct_room = max_connections - 3 - 1
    if fair_concurrency and not (
        0 < fair_concurrency <= direct_room
        and 0 <= fair_warmup < fair_duration
        and fair_rounds >= 1
    ):
        raise SystemExit(
            f"need 0 < --fair-concurrency <= {direct_room} (direct must serve them all), "
            "0 <= --fair-warmup < --fair-duration, --fair-rounds >= 1"
        )
    return S.BenchSettings(
        concurrency=concurrency,
        duration_s=duration,
        ramp_s=ramp,
        rate_rps=None if rate is None else float(rate),  # type: ignore[arg-type]
        scenarios=scenarios,
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
    )


def main(argv: list[str] | None = None) -> int:
    settings = build_settings(parse_args(argv))
    # The lambda package lives in lambda_src, as on Lambda's import path; the spawned workers
    # inherit PYTHONPATH.
    lambda_src = str(S.ROOT / "lambda_src")
    if lambda_src not in sys.path:
        sys.path.insert(0, lambda_src)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (lambda_src, str(S.ROOT), os.environ.get("PYTHONPATH", "")) if p
        )
    from bench.report import markdown, write_outputs  # noqa: PLC0415
    from bench.runner import Bench, Interrupted  # noqa: PLC0415

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
