"""A few-second read split on real servers: with a reader, reads leave the writer's pool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import settings as S
from bench.__main__ import main
from tests.bench.contract import key_paths
from tests.integration.conftest import require_local_servers

pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def split_result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require_local_servers(replica=True)
    out = tmp_path_factory.mktemp("read-split")
    # 12 environments at 64 req/s, one 3 s round per path (writer only, then with the reader).
    code = main(
        [
            "--preset", "smoke", "--scenarios", "read-split", "--read-split-concurrency", "12",
            "--read-split-duration", "3", "--read-split-warmup", "1", "--read-split-rounds", "1",
            "--out", str(out), "--no-chart", "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    assert "Read split:" in Path(out, "latest.md").read_text()
    return dict(json.loads(Path(out, "latest.json").read_text()))


def _paths(result: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    paths = {path["name"]: path for path in result["read_split"]["paths"]}
    return paths[S.SPLIT_WRITER_ONLY], paths[S.SPLIT_WITH_READER]


def test_without_a_reader_every_read_is_the_writers(split_result: dict[str, Any]) -> None:
    only, _ = _paths(split_result)
    assert only["errors"] == {"too_many_clients": 0, "timeout": 0, "other": 0}
    assert only["reads"]["writer"] > 0
    assert only["reads"]["reader"] == 0
    # No app-role connection on the replica: nothing reached it
    assert only["reader_peak_server_connections"] == 0
    assert 0 < only["peak_server_connections"] <= only["server_connection_cap"]


def test_with_a_reader_reads_go_to_the_replica_and_creates_stay_on_the_writer(
    split_result: dict[str, Any],
) -> None:
    _, reader = _paths(split_result)
    assert reader["errors"] == {"too_many_clients": 0, "timeout": 0, "other": 0}
    # Every read answered by the reader (seeded orders: the replica has them, no fallback)
    assert reader["reads"]["reader"] > 0
    assert reader["reads"]["writer"] == 0
    assert 0 < reader["reader_peak_server_connections"] <= reader["server_connection_cap"]
    # The writer still served the creates
    assert reader["peak_server_connections"] > 0
    split = split_result["read_split"]
    assert split["reader"]["sslmode"] == "verify-ca"
    assert split["order"] == [S.SPLIT_WRITER_ONLY, S.SPLIT_WITH_READER]
    assert len(split["pair_writer_peaks"]) == 1
    assert split["verdict"] in {"PASS", "MISS", "UNRESOLVED"}


def test_read_split_keys_match_the_committed_read_split_json(split_result: dict[str, Any]) -> None:
    committed = json.loads((S.RESULTS_DIR / "read-split.json").read_text())
    assert key_paths(split_result["read_split"]) == key_paths(committed["read_split"])
    # The rest of a read-split-only report is the burst report's frame, without burst results.
    assert split_result["scenarios"] == []
    assert set(split_result) == set(committed)
