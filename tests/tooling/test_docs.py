"""The README's configuration tables are generated from the schema: stale ones fail make test."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks import config_doc
from stacks.loader import read_context
from tests.fixture_config import fixture_context

ROOT = Path(__file__).resolve().parents[2]


def test_readme_configuration_tables_are_current() -> None:
    assert config_doc.main(["--check"]) == 0, "run `make docs`"


def test_the_check_fails_on_a_stale_readme(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "README.md"
    stale.write_text((ROOT / "README.md").read_text().replace("| `proxy.auth_mode` |", "| x |"))
    assert config_doc.main(["--check", "--readme", str(stale)]) == 1
    assert "make docs" in capsys.readouterr().err
    # make docs (and make snapshot-update) rewrite it and say so; a second run changes nothing.
    assert config_doc.main(["--readme", str(stale)]) == 0
    assert capsys.readouterr().out == "README.md: configuration tables regenerated\n"
    assert config_doc.main(["--check", "--readme", str(stale)]) == 0
    before = stale.stat().st_mtime_ns
    assert config_doc.main(["--readme", str(stale)]) == 0
    assert capsys.readouterr().out == "README.md: configuration tables already current\n"
    assert stale.stat().st_mtime_ns == before


def test_every_environment_gets_a_column_and_every_key_a_row() -> None:
    # GIVEN any set of environments (here the fixture's two)
    text = config_doc.render(fixture_context())
    assert "| Key | Allowed | small | large | Meaning |" in text
    # THEN each schema key of each section has its row, with the range its errors state
    assert "| `proxy.borrow_timeout_s` | 1..300; < functions.timeout_s | 4 | 4 |" in text
    assert "| `api.integration_timeout_s` | 1..30; ≥ functions.timeout_s |" in text
    shipped = config_doc.render(read_context())
    assert shipped.count("\n| `") > 60


def test_the_markers_must_exist() -> None:
    with pytest.raises(ValueError, match="lacks the markers"):
        config_doc.replace_block("no markers here", "x")


def test_the_ci_section_gets_a_row_per_key_with_or_without_one() -> None:
    keys = [
        "ci.repository",
        "ci.account",
        "ci.region",
        "ci.branch",
        "ci.environments[].env",
        "ci.environments[].github_environment",
        "ci.oidc_provider_arn",
    ]
    for context in (fixture_context(), read_context()):
        text = config_doc.render(context)
        assert [key for key in keys if f"| `{key}` |" not in text] == []
    assert "| `ci.branch` | a branch name without wildcards | — |" in config_doc.render(
        fixture_context()
    )
