"""Repeats and sweeps: medians and spreads per figure, verdict stability, the largest clean N."""

from __future__ import annotations

from typing import Any

from bench import settings as S
from bench.__main__ import build_settings, parse_args
from bench.repeat import compact, fair_verdict, repeat_summary, sweep_summary
from bench.report import repeat_lines, sweep_lines


def _scenario(errors: int, p99: float, *, name: str = S.MODULE_POOLED, n: int = 1000) -> dict:
    return {
        "name": name,
        "concurrency": n,
        "requests": 100,
        "ok": 100 - errors,
        "errors": {"too_many_clients": 0, "timeout": errors, "other": 0},
        "error_causes": {"connect_timeout": errors} if errors else {},
        "peak_server_connections": 20,
        "throughput_rps": 800.0,
        "p50_ms": 1.0,
        "p95_ms": 2.0,
        "p99_ms": p99,
        "cold_p50_ms": 9.0,
        "cpu": {"other_processes_cores": 0.01, "pgbouncer_peak_1s_cores": 0.3},
    }


def _pass(errors: int, p99: float, ratio: float | None, n: int = 1000) -> dict[str, Any]:
    fair = None
    if ratio is not None:
        fair = {
            "p99_ratio": ratio,
            "p99_ratio_median": ratio,
            "pair_p99_ratios": [ratio],
            "paths": [
                {"name": S.MODULE_DIRECT, "p99_ms": 4.0, "errors": {"timeout": 0}},
                {"name": S.MODULE_POOLED, "p99_ms": 4.0 * ratio, "errors": {"timeout": 0}},
            ],
        }
    return {
        "concurrency": n,
        "wall_s": 30.0,
        "scenarios": [_scenario(errors, p99, n=n)],
        "fair_comparison": fair,
    }


def test_repeat_summary_gives_median_and_range_and_flags_an_unstable_verdict() -> None:
    summary = repeat_summary([_pass(0, 5.0, 1.2), _pass(13, 9.0, 0.9), _pass(0, 7.0, 1.7)])
    pooled = summary["scenarios"][S.MODULE_POOLED]
    assert pooled["p99_ms"] == {"median": 7.0, "min": 5.0, "max": 9.0, "n": 3}
    assert pooled["errors_total"]["max"] == 13
    assert (pooled["zero_error_runs"], pooled["runs"]) == (2, 3)
    assert summary["fair_comparison"]["verdicts"] == ["PASS", "PASS", "MISS"]
    assert summary["fair_comparison"]["verdict_stable"] is False
    stable = repeat_summary([_pass(0, 5.0, 1.2), _pass(0, 5.0, 0.8)])
    assert stable["fair_comparison"]["verdict_stable"] is True
    text = "\n".join(repeat_lines({"repeat_summary": summary}))
    assert "| 2/3 | 0 [0-13] |" in text
    assert "NOT stable" in text


def test_sweep_reports_the_largest_level_with_zero_errors_in_every_run() -> None:
    runs = [
        *(_pass(0, 5.0, None, n=1000) for _ in range(3)),
        _pass(0, 6.0, None, n=1500),
        _pass(2, 6.0, None, n=1500),
        *(_pass(0, 6.0, None, n=2000) for _ in range(3)),  # noisy: clean again at 2000
        *(_pass(40, 60.0, None, n=2500) for _ in range(3)),
    ]
    sweep = sweep_summary([compact(r) for r in runs])
    rows = {row["concurrency"]: row for row in sweep["levels"]}
    assert rows[1500]["errors_per_run"] == [0, 2]
    assert rows[2500]["error_causes"] == {"connect_timeout": 120}
    assert sweep["largest_all_zero_errors"] == 2000
    assert "Largest N with 0 errors in every run: 2000" in "\n".join(sweep_lines({"sweep": sweep}))


def test_concurrency_takes_a_list_for_a_sweep_and_repeat_is_checked() -> None:
    cfg = build_settings(parse_args(["--concurrency", "1000,1500", "--repeat", "3"]))
    assert cfg.concurrency_levels == (1000, 1500)
    assert cfg.repeat == 3
    assert build_settings(parse_args(["--concurrency", "700"])).concurrency_levels == (700,)
    assert build_settings(parse_args([])).concurrency_levels == (S.SEED_CONCURRENCY,)


def test_markdown_of_a_single_run_has_no_repeat_section() -> None:
    assert repeat_lines({}) == []
    assert sweep_lines({}) == []


def test_fair_verdict_is_given_only_when_every_pair_agrees() -> None:
    assert fair_verdict([1.1, 1.4, 0.9]) == "PASS"
    assert fair_verdict([1.6, 2.4]) == "MISS"
    assert fair_verdict([1.2, 2.1, 1.4]) == "UNRESOLVED"
    assert fair_verdict([]) is None
