"""`python -m bench.drill`: six faults under load; bench/results/drill-latest.{json,md,png}."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import settings as S
from bench.drill import faults as F


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.drill", description=__doc__)
    parser.add_argument("--faults", default=",".join(F.FAULTS),
                        help=f"comma-separated subset of: {', '.join(F.FAULTS)}")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=150, help="environments (150)")
    parser.add_argument("--rate", type=float, default=300.0, help="req/s at hold (300)")
    parser.add_argument("--duration", type=float, default=24.0, help="seconds per fault (24)")
    parser.add_argument("--fault-at", type=float, default=8.0, help="fault time, s (8)")
    parser.add_argument("--stall", type=float, default=8.0, help="network stall length, s (8)")
    parser.add_argument("--replica-down", type=float, default=6.0,
                        help="replica-stop: seconds the replica stays down (6)")  # fmt: skip
    parser.add_argument("--apply-delay-ms", type=int, default=1000,
                        help="replica-stop: replica apply delay (lag), ms (1000)")  # fmt: skip
    parser.add_argument("--max-attempts", type=int, default=6, help="attempts per create (6)")
    parser.add_argument("--create-share", type=float, default=0.7, help="share of creates (0.7)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=S.RESULTS_DIR, help="output directory")
    parser.add_argument("--no-chart", action="store_true", help="skip drill-latest.png")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    return parser.parse_args(argv)


def build_settings(args: argparse.Namespace) -> object:
    from bench.drill.run import DrillSettings  # noqa: PLC0415

    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip())
    unknown = [f for f in faults if f not in F.FAULTS]
    if unknown or not faults:
        raise SystemExit(f"--faults: unknown {unknown}; allowed: {', '.join(F.FAULTS)}")
    if not (1 <= args.concurrency <= 2000 and 0 < args.rate <= 5000):
        raise SystemExit("need 1 <= --concurrency <= 2000 and 0 < --rate <= 5000")
    if not (2.0 < args.fault_at < args.duration <= 120 and 0 < args.stall <= 30):
        raise SystemExit("need 2 < --fault-at < --duration <= 120 and 0 < --stall <= 30")
    if not (1 <= args.max_attempts <= 20 and 0 < args.create_share <= 1):
        raise SystemExit("need 1 <= --max-attempts <= 20 and 0 < --create-share <= 1")
    if not (0 < args.replica_down <= 30 and 0 <= args.apply_delay_ms <= 10_000):
        raise SystemExit("need 0 < --replica-down <= 30 and 0 <= --apply-delay-ms <= 10000")
    return DrillSettings(
        concurrency=args.concurrency, rate_rps=args.rate, duration_s=args.duration,
        fault_at_s=args.fault_at, stall_s=args.stall, max_attempts=args.max_attempts,
        create_share=args.create_share, seed=args.seed, faults=faults, out_dir=args.out,
        chart=not args.no_chart, progress=not args.quiet, replica_down_s=args.replica_down,
        apply_delay_ms=args.apply_delay_ms,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from bench.console import Interrupted  # noqa: PLC0415
    from bench.drill.report import markdown, write_outputs  # noqa: PLC0415
    from bench.drill.run import Drill, DrillSettings  # noqa: PLC0415

    settings = build_settings(args)
    assert isinstance(settings, DrillSettings)
    try:
        result = Drill(settings).run()
    except Interrupted as exc:
        print(f"\ninterrupted ({exc}): workers stopped, servers stopped, namespace removed")
        return 130
    print()
    print(markdown(result), end="")
    if settings.write_files:
        for path in write_outputs(result, settings.out_dir, chart=settings.chart):
            print(f"wrote {path.relative_to(S.ROOT) if path.is_relative_to(S.ROOT) else path}")
    lost = sum(f.get("lost_acknowledged_writes", 0) + f.get("duplicate_rows", 0)
               for f in result["faults"])  # fmt: skip
    false_404s = sum(f.get("reads", {}).get("read_after_write", {}).get("false_404s", 0)
                     for f in result["faults"])  # fmt: skip
    return 1 if lost or false_404s else 0


if __name__ == "__main__":
    raise SystemExit(main())
