"""A few-second burst on real PostgreSQL + PgBouncer: the pooler caps, direct runs out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import settings as S
from bench.__main__ import main
from tests.bench.contract import (
    NEWER_THAN_LATEST_JSON,
    SCHEMA_KEYS,
    key_paths,
    same_entries,
)
from tests.integration.conftest import require_local_servers

pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def smoke_result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    require_local_servers()
    out = tmp_path_factory.mktemp("bench")
    # 40 environments against max_connections=20 (17 for non-superusers), pool 80 % = 16; a
    # two-round same-load comparison of 2 s each so the report has every section.
    code = main(
        [
            "--preset", "smoke", "--scenarios", "direct-module-scope,pooled-module-scope",
            "--fair-concurrency", "4", "--fair-duration", "2", "--fair-warmup", "0.5",
            "--fair-rounds", "1", "--out", str(out), "--no-chart", "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    return json.loads(Path(out, "latest.json").read_text())


def _scenario(result: dict, name: str) -> dict:
    return next(sc for sc in result["scenarios"] if sc["name"] == name)


def test_json_has_the_documented_schema(smoke_result: dict) -> None:
    assert [sc["name"] for sc in smoke_result["scenarios"]] == [
        "direct-module-scope",
        "pooled-module-scope",
    ]
    for scenario in smoke_result["scenarios"]:
        assert set(scenario) >= SCHEMA_KEYS
        assert set(scenario["errors"]) == {"too_many_clients", "timeout", "other"}
    assert {"cpu_count", "python", "postgres", "pgbouncer"} <= set(smoke_result["machine"])


def test_report_keys_match_the_committed_latest_json(smoke_result: dict) -> None:
    # The committed full run's keys (its scenarios cut to the two run here) are the contract.
    committed = json.loads((S.RESULTS_DIR / "latest.json").read_text())
    expected = key_paths(same_entries(committed, smoke_result, "scenarios")) | {
        f"scenarios.[{scenario['name']}].{key}"
        for scenario in smoke_result["scenarios"]
        for key in NEWER_THAN_LATEST_JSON
    }
    assert key_paths(smoke_result) == expected
    assert smoke_result["fair_comparison"]["order"] == [S.MODULE_DIRECT, S.MODULE_POOLED]


def test_iam_like_auth_model_logs_in_directly_and_through_pgbouncer(smoke_result: dict) -> None:
    # The default model: a 16-iteration SCRAM verifier computed by bench.auth, read back from
    # pg_authid; successes on both paths are real logins with it (libpq and auth_query).
    assert smoke_result["auth_model"] == "iam-like"
    assert smoke_result["settings"]["auth"] == {
        "model": "iam-like",
        "scram_iterations": 16,
        "tls": "verify-full",
    }
    assert _scenario(smoke_result, "direct-module-scope")["ok"] > 0
    assert _scenario(smoke_result, "pooled-module-scope")["ok"] > 0


def test_pooled_environments_get_no_errors_and_stay_under_the_cap(smoke_result: dict) -> None:
    pooled = _scenario(smoke_result, "pooled-module-scope")
    assert pooled["concurrency"] > smoke_result["settings"]["postgres_max_connections"]
    assert pooled["requests"] > 0
    assert pooled["errors"] == {"too_many_clients": 0, "timeout": 0, "other": 0}
    assert pooled["ok"] == pooled["requests"]
    assert pooled["server_connection_cap"] == 16
    assert 0 < pooled["peak_server_connections"] <= pooled["server_connection_cap"]


def test_direct_environments_beyond_max_connections_are_refused(smoke_result: dict) -> None:
    direct = _scenario(smoke_result, "direct-module-scope")
    assert direct["server_connection_cap"] is None
    assert direct["errors"]["too_many_clients"] > 0
    # PostgreSQL itself caps: never more than max_connections minus the superuser reserve
    assert direct["peak_server_connections"] <= 20 - 3
