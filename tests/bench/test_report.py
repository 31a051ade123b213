"""Burst-lab results: per-scenario summary, the JSON schema, the table and the goal checks."""

from __future__ import annotations

import json
from pathlib import Path

from bench import settings as S
from bench.report import goals, markdown, write_outputs
from bench.runner import ScenarioRun
from bench.worker import KIND_CODES

SCHEMA_KEYS = {
    "name",
    "concurrency",
    "requests",
    "ok",
    "errors",
    "peak_server_connections",
    "server_connection_cap",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "cold_p50_ms",
}
TOO_MANY = KIND_CODES["too_many_clients"]


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
    assert model.source.startswith("stacks.config")
    assert S.pool_size_for(100, model.max_connections_percent) == model.max_connections_percent
    assert S.pool_size_for(20, 80) == 16
    assert S.pool_size_for(10, 5) == 1
