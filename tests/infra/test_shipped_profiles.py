"""What the environments shipped in cdk.json must guarantee, as invariants, not copied numbers.

A fork retunes freely; these hold for any environment that is protected (deletion protection on:
the production-like profile) and for every environment.
"""

from __future__ import annotations

import pytest
from infra_support import Synthesized

from stacks.config import AppConfig
from stacks.loader import environment_names, load

pytestmark = pytest.mark.infra

CONFIGS = {name: load(name) for name in environment_names()}
PROTECTED = [name for name, c in CONFIGS.items() if c.database.deletion_protection]


def test_cdk_json_ships_a_protected_profile() -> None:
    assert PROTECTED, "a reference template ships at least one production-like environment"


@pytest.mark.parametrize("name", PROTECTED)
def test_a_protected_profile_keeps_data_and_tells_someone(name: str) -> None:
    config: AppConfig = CONFIGS[name]
    db = config.database
    assert db.multi_az
    assert db.removal_policy in ("snapshot", "retain")
    assert db.backup_retention_days >= 7
    assert config.network.max_azs >= 3
    assert config.monitoring.alarm_destination_required


@pytest.mark.parametrize("name", PROTECTED)
def test_a_protected_profile_keeps_a_year_of_logs_and_monitors_the_os(name: str) -> None:
    # What the Control Tower controls ask (CT.CLOUDWATCH.PR.2, CT.RDS.PR.2); dev-like profiles
    # acknowledge them, and name this test as the compensating control.
    config: AppConfig = CONFIGS[name]
    retention = {
        "network.flow_log_retention_days": config.network.flow_log_retention_days,
        "database.log_retention_days": config.database.log_retention_days,
        "functions.log_retention_days": config.functions.log_retention_days,
        "api.access_log_retention_days": config.api.access_log_retention_days,
    }
    assert {key: days for key, days in retention.items() if days < 365} == {}
    assert config.database.monitoring_interval_s > 0


@pytest.mark.parametrize("name", PROTECTED)
def test_a_protected_profiles_template_keeps_data(
    shipped_apps: dict[str, Synthesized], name: str
) -> None:
    data = shipped_apps[name].data
    (db,) = data.find_resources("AWS::RDS::DBInstance").values()
    assert db["DeletionPolicy"] in ("Snapshot", "Retain")
    assert db["UpdateReplacePolicy"] in ("Snapshot", "Retain")
    assert db["Properties"]["DeletionProtection"] is True
    # the data key and the key of the (retained) flow logs
    keys = data.find_resources("AWS::KMS::Key")
    assert sorted(keys) == ["DataKey", "LogsKey"]
    assert {key["DeletionPolicy"] for key in keys.values()} == {"Retain"}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_profile_leaves_admin_headroom_and_fits_its_timeouts(name: str) -> None:
    # load() already refuses a violated budget; these are the guarantees stated in the README.
    config = CONFIGS[name]
    assert config.proxy.max_connections_percent < 100
    assert config.proxy.borrow_timeout_s < config.functions.timeout_s
    assert config.functions.timeout_s <= config.api.integration_timeout_s
