"""bench/cold_import.py: one row per handler module, no tracing scenario, real imports."""

from __future__ import annotations

import pytest

from bench import cold_import


def test_measures_each_handler_once_without_a_tracing_dimension() -> None:
    assert cold_import.HANDLERS == {
        "api": "orders.handlers.api",
        "direct": "orders.handlers.direct",
        "migrate": "orders.handlers.migrate",
    }
    env = cold_import.lambda_env()
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert not any("TRACE" in name for name in env)


def test_main_prints_one_row_per_handler(capsys: pytest.CaptureFixture[str]) -> None:
    cold_import.main(["--runs", "1"])

    out = capsys.readouterr().out
    assert "| handler | module | wall median | wall min | CPU median | CPU min |" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "`orders." in line]
    assert [row.split("|")[1].strip() for row in rows] == ["api", "direct", "migrate"]
    for row in rows:
        numbers = [float(cell) for cell in row.split("|")[3:7]]
        assert all(n > 0 for n in numbers), row
    assert not any("tracing" in line for line in out.splitlines() if line.startswith("|"))
    assert "largest imports of orders.handlers.api" in out
