"""Burst-lab results: per-scenario summary, the JSON schema, the table and the goal checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import settings as S
from bench.__main__ import build_settings, parse_args
from bench.report import goals, markdown, write_outputs
from bench.results import ScenarioRun, fair_comparison
from bench.worker import CAUSE_CODES
from stacks.budget import proxy_ceiling
from tests.bench.contract import SCHEMA_KEYS

TOO_MANY = CAUSE_CODES["too_many_clients"]


def _run(name: str, cap: int | None, records: list[tuple[float, float, int, int, int]]) -> dict:
    run = ScenarioRun(name=name, concurrency=3, cap=cap, pool_k=None, duration_s=4.0, ramp_s=2.0)
    run.records = records
    run.samples = [(0.0, 1), (1.0, 3), (2.0, 2)]
    return run.summary()


def _result(scenarios: list[dict]) -> dict:
    return {
        "settings": {
            "start_environments": 1,
            "concurrency": 3,
            "ramp_s": 2.0,
            "duration_s": 4.0,
            "hold_rate_rps": 4.8,
            "per_environment_interval_s": 0.625,
            "postgres_max_connections": 2,
            "pool_size": 1,
            "pool_k": 2,
            "workers": 1,
            "proxy_model": {"max_connections_percent": 80, "borrow_timeout_s": 3},
        },
        "machine": {
            "cpu_count": 2,
            "cpu_model": "test",
            "memory_gib": 1,
            "python": "3.11",
            "postgres": "PostgreSQL 15",
            "pgbouncer": "PgBouncer 1.18.0",
            "psycopg": "3.3.9",
        },
        "wall_s": 10.0,
        "scenarios": scenarios,
    }


def test_summary_separates_cold_from_warm_and_counts_errors_by_kind() -> None:
    # GIVEN env 0 cold 10 ms then warm 1 and 3 ms; env 1 refused twice; env 2 cold 20 ms
    records = [
        (0.0, 10.0, 0, 1, 0),
        (0.5, 5.0, TOO_MANY, 1, 1),
        (1.0, 20.0, 0, 1, 2),
        (2.5, 1.0, 0, 0, 0),
        (2.6, 4.0, TOO_MANY, 0, 1),
        (3.0, 3.0, 0, 0, 0),
    ]
    summary = _run(S.MODULE_DIRECT, None, records)
    assert summary.keys() >= SCHEMA_KEYS
    assert summary["requests"] == 6
    assert summary["ok"] == 4
    assert summary["errors"] == {"too_many_clients": 2, "timeout": 0, "other": 0}
    assert summary["p50_ms"] == 2.0  # warm successes only: 1 and 3 ms
    assert summary["cold_p50_ms"] == 15.0
    assert summary["peak_server_connections"] == 3
    assert summary["server_connection_cap"] is None
    assert summary["throughput_rps"] == 1.0  # 2 ok in the 2 s hold
    assert summary["environments_served"] == 2


def test_a_scenario_without_successes_reports_null_latencies() -> None:
    summary = _run(S.MODULE_DIRECT, None, [(0.0, 5.0, TOO_MANY, 1, 0)])
    assert summary["p99_ms"] is None
    assert summary["cold_p50_ms"] is None


def test_goals_report_misses_instead_of_hiding_them() -> None:
    # pooled run with an error and a peak above its cap: both goals must read MISS
    pooled = _run(S.MODULE_POOLED, 1, [(0.0, 1.0, 0, 1, 0), (2.5, 9.0, TOO_MANY, 0, 1)])
    direct = _run(S.MODULE_DIRECT, None, [(0.0, 1.0, TOO_MANY, 1, 0)])
    checks = goals(_result([pooled, direct]))
    assert [ok for ok, _ in checks[:3]] == [False, False, True]
    assert "peak server connections 3 <= cap 1" in checks[1][1]


def test_outputs_hold_the_documented_schema(tmp_path: Path) -> None:
    pooled = _run(S.MODULE_POOLED, 1, [(0.0, 1.0, 0, 1, 0), (2.5, 2.0, 0, 0, 0)])
    direct = _run(S.MODULE_DIRECT, None, [(0.0, 1.0, 0, 1, 0), (2.5, 1.5, 0, 0, 0)])
    written = write_outputs(_result([pooled, direct]), tmp_path, chart=True)
    assert [p.name for p in written] == ["latest.json", "latest.md", "latest.png"]
    data = json.loads((tmp_path / "latest.json").read_text())
    assert all(set(sc) >= SCHEMA_KEYS for sc in data["scenarios"])
    assert (tmp_path / "latest.png").read_bytes()[:4] == b"\x89PNG"
    table = markdown(data)
    assert "| 3. module-scope connection, via PgBouncer (deployed design) | 3 |" in table
    assert "PASS: pooled: 0 errors at 3 envs" in table


def test_pool_size_is_the_dev_configs_percent_of_local_max_connections() -> None:
    model = S.load_proxy_model()
    assert model.source.startswith("stacks.loader")
    assert proxy_ceiling(100, model.max_connections_percent) == model.max_connections_percent
    assert proxy_ceiling(20, 80) == 16
    assert proxy_ceiling(10, 5) == 1


def _fair_round(name: str, latencies: list[float], *, errors: int = 0) -> ScenarioRun:
    # one environment, cold at 0 s, warm requests at 1 s and later; warm-up is 1 s
    run = ScenarioRun(name=name, concurrency=1, cap=None, pool_k=None, duration_s=4.0, ramp_s=0.0)
    run.records = [(0.0, 50.0, 0, 1, 0), (0.5, 99.0, 0, 0, 0)]  # both inside the warm-up
    run.records += [(1.0 + i * 0.1, ms, 0, 0, 0) for i, ms in enumerate(latencies)]
    run.records += [(2.0, 1.0, TOO_MANY, 0, 0)] * errors
    run.samples = [(1.0, 1)]
    return run


def test_fair_comparison_pools_rounds_after_the_warm_up_and_keeps_each_rounds_p99() -> None:
    # GIVEN ABBA rounds: direct, pooled, pooled, direct
    rounds = [
        _fair_round(S.MODULE_DIRECT, [1.0, 2.0]),
        _fair_round(S.MODULE_POOLED, [2.0, 4.0]),
        _fair_round(S.MODULE_POOLED, [4.0, 6.0]),
        _fair_round(S.MODULE_DIRECT, [3.0, 4.0], errors=1),
    ]
    fair = fair_comparison(rounds, warmup_s=1.0, measured_s=3.0, cap=16)
    direct, pooled = fair["paths"]
    assert fair["order"] == [S.MODULE_DIRECT, S.MODULE_POOLED, S.MODULE_POOLED, S.MODULE_DIRECT]
    assert direct["name"] == S.MODULE_DIRECT
    assert direct["warm_ok"] == 4  # the warm-up's cold 50 ms and warm 99 ms are left out
    assert direct["p50_ms"] == 2.5
    assert direct["errors"]["too_many_clients"] == 1
    assert direct["requests"] == 5
    assert direct["server_connection_cap"] is None
    assert pooled["server_connection_cap"] == 16
    assert len(pooled["round_p99_ms"]) == 2
    assert fair["p99_ratio"] == round(pooled["p99_ms"] / direct["p99_ms"], 2)


def test_the_p99_goal_uses_the_fair_comparison_and_the_burst_ratio_is_only_information() -> None:
    pooled = _run(S.MODULE_POOLED, 1, [(0.0, 1.0, 0, 1, 0), (2.5, 90.0, 0, 0, 0)])
    direct = _run(S.MODULE_DIRECT, None, [(0.0, 1.0, 0, 1, 0), (2.5, 1.0, 0, 0, 0)])
    result = _result([pooled, direct])
    fair = fair_comparison(
        [_fair_round(S.MODULE_DIRECT, [2.0, 2.0]), _fair_round(S.MODULE_POOLED, [2.0, 2.5])],
        warmup_s=1.0,
        measured_s=3.0,
        cap=1,
    )
    result["fair_comparison"] = {
        "concurrency": 1,
        "rate_rps": 4.8,
        "per_environment_interval_s": 0.2,
        "duration_s": 4.0,
        "warmup_s": 1.0,
        **fair,
    }
    checks = goals(result)
    p99 = [c for c in checks if "p99" in c[1]]
    assert p99[0][0] is True  # 2.5 / 2.0 = 1.25x
    assert "at the same load" in p99[0][1]
    assert p99[1][0] is None
    assert p99[1][1].startswith("burst (unequal load")
    table = markdown(result)
    assert "Fair warm-path comparison" in table
    assert "- INFO: burst (unequal load" in table


def test_cpu_table_shows_who_used_the_cpus() -> None:
    pooled = _run(S.MODULE_POOLED, 1, [(0.0, 1.0, 0, 1, 0)])
    pooled["cpu"] = {
        "bench_clients_cores": 1.0,
        "postgres_cores": 0.3,
        "pgbouncer_cores": 0.2,
        "pgbouncer_peak_1s_cores": 0.36,
        "other_processes_cores": 0.05,
        "machine_busy_cores": 1.55,
    }
    table = markdown(_result([pooled]))
    assert "| 1.00 | 0.30 | 0.20 | 0.36 | 0.05 | 1.55 |" in table


def test_fair_rounds_alternate_abba() -> None:
    cfg = S.BenchSettings(fair_rounds=2, fair_concurrency=60)
    assert cfg.fair_order == (S.MODULE_DIRECT, S.MODULE_POOLED, S.MODULE_POOLED, S.MODULE_DIRECT)
    assert cfg.fair_interval_s == 60 / 800


def test_fair_concurrency_must_fit_what_direct_can_serve() -> None:
    with pytest.raises(SystemExit, match="direct must serve them all"):
        build_settings(parse_args(["--fair-concurrency", "97"]))
    assert build_settings(parse_args(["--preset", "smoke"])).fair_concurrency == 0
    assert build_settings(parse_args([])).fair_concurrency == S.FAIR_CONCURRENCY
