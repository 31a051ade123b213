"""ops.preflight against a stubbed account: every check passes, each failure names its fix,
exit codes 0/1/2, --offline makes no AWS call, and a required alarm destination is enforced."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ops import preflight
from ops.cdk_app import BootstrapRequirement
from stacks.loader import CDK_JSON, environment_names, load, read_context
from tests.fixture_config import LARGE, SMALL, aurora_context, fixture_context
from tests.ops.aws_stubs import ACCOUNT, REGION
from tests.ops.preflight_stubs import (
    OTHER_PROXY,
    OUR_PROXY,
    REQUIREMENT,
    ZONES,
    Account,
    Stubs,
    aurora_option,
    option,
    stub_account,
)

pytestmark = pytest.mark.ops

ROOT = Path(__file__).resolve().parents[2]
SAME_ACCOUNT_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:pager"


def context(env: str = SMALL, **sections: dict[str, Any]) -> dict[str, Any]:
    return fixture_context(**{env: sections})


def run(
    stubs: Stubs | None,
    ctx: dict[str, Any],
    env: str = SMALL,
    *argv: str,
    bootstrap: Callable[[], BootstrapRequirement] = lambda: REQUIREMENT,
) -> int:
    return preflight.main(
        ["--env", env, *argv],
        clients=stubs.clients if stubs else None,
        bootstrap=bootstrap,
        context=ctx,
    )


def rows(out: str) -> dict[str, tuple[str, str, str]]:
    """check -> (status, detail, fix) from the printed table."""
    found: dict[str, tuple[str, str, str]] = {}
    last = ""
    for line in out.splitlines():
        fix = re.match(r"^\s+fix: (.*)$", line)
        if fix and last:
            status, detail, _ = found[last]
            found[last] = (status, detail, fix.group(1))
            continue
        row = re.match(r"^  (PASS|WARN|FAIL)\s+(.+?)\s{2,}(.*)$", line)
        if row:
            last = row.group(2)
            found[last] = (row.group(1), row.group(3), "")
    return found


def check_and_run(
    stubs: Stubs, capsys: pytest.CaptureFixture[str], acct: Account, ctx: dict[str, Any], env: str
) -> tuple[int, dict[str, tuple[str, str, str]]]:
    stub_account(stubs, acct, load(env, ctx))
    code = run(stubs, ctx, env)
    stubs.assert_done()
    return code, rows(capsys.readouterr().out)


def assert_only_failure(
    code: int, table: dict[str, tuple[str, str, str]], check: str, detail: str, fix: str
) -> None:
    """Exit 1, `check` the only failure, its detail and fix as expected (fix: a regex)."""
    assert code == 1
    failed = {name for name, (status, _, _) in table.items() if status == "FAIL"}
    assert failed == {check}, table
    _, shown, shown_fix = table[check]
    assert detail in shown
    assert re.search(fix, shown_fix), shown_fix


# --- everything passes ---------------------------------------------------------------------------

FRESH_ACCOUNT_CHECKS = {
    "credentials",
    "alarm destination",
    "cdk bootstrap",
    "stack Fixture-small-Data",
    "stack Fixture-small-Service",
    "lambda concurrency",
    "postgres version",
    "instance class",
    "availability zones",
    "rds proxy quota",
    "rds quotas",
    "vpc quota",
}


def test_fresh_account_passes_every_check(
    account_stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    code, table = check_and_run(account_stubs, capsys, Account(), context(), SMALL)
    assert code == 0
    assert set(table) == FRESH_ACCOUNT_CHECKS
    assert {status for status, _, _ in table.values()} == {"PASS"}
    assert table["credentials"][1] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/Deployer/jane (account {ACCOUNT}) in {REGION}"
    )
    # small reserves 7 + 3 + 1 = 11 of 1000 unreserved
    assert (
        "reserves 11 (7/3/1: api/direct/migration) -> 989 left unreserved"
        in (table["lambda concurrency"][1])
    )
    assert "version 30 >= 6 (/cdk-bootstrap/hnb659fds/version)" in table["cdk bootstrap"][1]
    assert (
        table["rds proxy quota"][1]
        == "1 of 20 proxies in eu-west-1 (Service Quotas rds L-D94C7EA3)"
    )
    assert (
        "db.t4g.medium / PostgreSQL 17.9 orderable with gp3 in 3 AZs" in table["instance class"][1]
    )


def test_deployed_environment_counts_what_it_already_holds(
    account_stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN large deployed: its functions hold 120 + 30 + 1 of an account limit of 400
    ctx = context(LARGE, monitoring={"alarm_topic_arn": SAME_ACCOUNT_TOPIC})
    acct = Account(
        data_status="UPDATE_COMPLETE",
        service_status="UPDATE_ROLLBACK_COMPLETE",
        account_limit=400,
        unreserved=249,
        held={"api-fn": 120, "direct-fn": 30, "migration-fn": 1, "provider-fn": 0},
        proxies=(OTHER_PROXY, OUR_PROXY),
        options=[option(DBInstanceClass="db.m7g.large")],
    )
    # WHEN preflight runs
    code, table = check_and_run(account_stubs, capsys, acct, ctx, LARGE)
    # THEN redeploying needs no new concurrency, proxy, instance or VPC
    assert code == 0, table
    assert {status for status, _, _ in table.values()} == {"PASS"}
    assert "unreserved 249 (this environment holds 151)" in table["lambda concurrency"][1]
    assert "-> 249 left unreserved, Lambda keeps >= 100" in table["lambda concurrency"][1]
    assert table["rds proxy quota"][1] == f"{OUR_PROXY} exists (2 in the region): none to create"
    assert table["alarm topic"][1] == f"{SAME_ACCOUNT_TOPIC} exists, 2 confirmed"
    assert "Multi-AZ capable" in table["instance class"][1]


# --- each failure names its fix -----------------------------------------------------------------

FAILURES = [
    pytest.param(
        Account(account_limit=10, unreserved=10), {}, "lambda concurrency",
        "-> -1 left unreserved, Lambda keeps >= 10",
        r"Service Quotas lambda L-B99A9384\) to >= 21 \(an empty account needs 111\)",
        id="new-account-concurrency",
    ),
    pytest.param(
        Account(account_limit=200, unreserved=105), {}, "lambda concurrency",
        "-> 94 left unreserved, Lambda keeps >= 100",
        r"lower functions.api_reserved_concurrency \+ direct_reserved_concurrency by 6",
        id="concurrency-taken-by-others",
    ),
    pytest.param(
        Account(bootstrap_version=None), {}, "cdk bootstrap",
        "/cdk-bootstrap/hnb659fds/version not found: eu-west-1 is not bootstrapped",
        rf"^npx cdk bootstrap aws://{ACCOUNT}/eu-west-1$", id="not-bootstrapped",
    ),
    pytest.param(
        Account(bootstrap_version="5"), {}, "cdk bootstrap",
        "bootstrap version 5 (/cdk-bootstrap/hnb659fds/version); the app needs >= 6",
        r"updates the bootstrap stack in place", id="old-bootstrap",
    ),
    pytest.param(
        Account(toolkit_status="ROLLBACK_COMPLETE"), {}, "cdk bootstrap",
        "ROLLBACK_COMPLETE", r"delete-stack --stack-name CDKToolkit .*; then npx cdk bootstrap",
        id="failed-bootstrap-stack",
    ),
    pytest.param(
        Account(data_status="ROLLBACK_COMPLETE"), {}, "stack Fixture-small-Data",
        "ROLLBACK_COMPLETE: a deploy cannot update",
        r"can only delete it.*delete-stack --stack-name Fixture-small-Data --region eu-west-1",
        id="data-rollback-complete",
    ),
    pytest.param(
        Account(service_status="UPDATE_ROLLBACK_FAILED"), {}, "stack Fixture-small-Service",
        "UPDATE_ROLLBACK_FAILED", r"continue-update-rollback --stack-name Fixture-small-Service",
        id="service-update-rollback-failed",
    ),
    pytest.param(
        Account(data_status="UPDATE_IN_PROGRESS"), {}, "stack Fixture-small-Data",
        "UPDATE_IN_PROGRESS", r"wait until it ends", id="stack-busy",
    ),
    pytest.param(
        Account(engine_status=None), {}, "postgres version",
        "PostgreSQL 17.9 is not offered in eu-west-1",
        r"one offered here: 17.5, 17.6 \(allowed values: stacks/config.py\)",
        id="engine-version-missing",
    ),
    pytest.param(
        Account(options=[option(StorageType="gp2"), option(StorageType="io1")]), {},
        "instance class", "orderable in a VPC only with gp2, io1 storage, gp3 needed",
        r"describe-orderable-db-instance-options --engine postgres --engine-version 17.9",
        id="no-gp3",
    ),
    pytest.param(
        Account(options=[]), {}, "instance class", "orderable in a VPC not at all",
        r"set database.instance_class", id="class-not-orderable",
    ),
    pytest.param(
        Account(options=[option(SupportsPerformanceInsights=False, MinStorageSize=100)]), {},
        "instance class",
        "no Performance Insights (Database Insights needs it); allocated_storage_gib 21 "
        "outside 100..65536", r"set database.instance_class", id="class-features",
    ),
    pytest.param(
        Account(zones={ZONES[0]: "available", ZONES[1]: "impaired"}), {}, "availability zones",
        "1 available AZs in eu-west-1, max_azs is 2", r"lower network.max_azs",
        id="too-few-azs",
    ),
    pytest.param(
        Account(default_subnet_zones=(ZONES[1],)), {}, "availability zones",
        "Fn::GetAZs returns only the 1 AZs with a default subnet (eu-west-1b)",
        r"network.availability_zones to 2 of: eu-west-1a, eu-west-1b, eu-west-1c; "
        r"or aws ec2 create-default-subnet", id="getazs-default-subnets",
    ),
    pytest.param(
        Account(zones={ZONES[0]: "available", ZONES[1]: "available"}),
        {"network": {"availability_zones": [ZONES[0], ZONES[2]]}}, "availability zones",
        "pinned eu-west-1c not available in eu-west-1",
        r"set network.availability_zones to 2 of: eu-west-1a, eu-west-1b", id="pinned-az-gone",
    ),
    pytest.param(
        Account(proxies=tuple(f"p{i}" for i in range(20)), proxy_quota=None), {},
        "rds proxy quota",
        "20 of 20 proxies in eu-west-1 (documented default; Service Quotas: "
        "AccessDeniedException): creating this proxy would fail",
        r"raise Service Quotas rds L-D94C7EA3", id="proxy-quota",
    ),
    pytest.param(
        Account(rds_quotas={"DBInstances": (40, 40), "AllocatedStorage": (99990, 100000)}), {},
        "rds quotas",
        "quota reached: DBInstances 40 + 1 > 40; AllocatedStorage 99990 + 21 > 100000",
        r"Service Quotas \(service rds\)", id="rds-quotas",
    ),
    pytest.param(
        Account(vpcs=5), {}, "vpc quota",
        "5 of 5 VPCs in eu-west-1 (Service Quotas vpc L-F678F1CE)",
        r"raise Service Quotas vpc L-F678F1CE", id="vpc-quota",
    ),
    pytest.param(
        Account(), {"monitoring": {"alarm_topic_arn": f"arn:aws:sns:us-east-1:{ACCOUNT}:pager"}},
        "alarm topic", "is in us-east-1, the alarms in eu-west-1",
        r"use a topic in eu-west-1: alarm actions cannot notify another region's topic",
        id="topic-other-region",
    ),
    pytest.param(
        Account(topic=None), {"monitoring": {"alarm_topic_arn": SAME_ACCOUNT_TOPIC}},
        "alarm topic", f"{SAME_ACCOUNT_TOPIC} does not exist", r"create it or fix alarm_topic_arn",
        id="topic-missing",
    ),
    pytest.param(
        Account(topic={"SubscriptionsConfirmed": "1", "KmsMasterKeyId": "alias/aws/sns"}),
        {"monitoring": {"alarm_topic_arn": SAME_ACCOUNT_TOPIC}}, "alarm topic",
        "is encrypted with alias/aws/sns: alarms cannot publish",
        r"customer managed key that cloudwatch.amazonaws.com may use", id="topic-aws-managed-key",
    ),
    pytest.param(
        Account(), {"monitoring": {"alarm_email": None, "alarm_destination_required": True}},
        "alarm destination", "alarm_destination_required is true",
        r"set environments.small.monitoring.alarm_email or alarm_topic_arn in cdk.json",
        id="required-destination-missing",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("acct", "sections", "check", "detail", "fix"), FAILURES)
def test_each_failure_names_its_fix(  # noqa: PLR0917  # one parameter per column of FAILURES
    account_stubs: Stubs,
    capsys: pytest.CaptureFixture[str],
    acct: Account,
    sections: dict[str, Any],
    check: str,
    detail: str,
    fix: str,
) -> None:
    code, table = check_and_run(account_stubs, capsys, acct, context(**sections), SMALL)
    assert_only_failure(code, table, check, detail, fix)


# --- warnings: exit 0 ---------------------------------------------------------------------------


def test_cross_account_topic_without_subscribers_warns(
    account_stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = "arn:aws:sns:eu-west-1:111122223333:pager"
    ctx = context(monitoring={"alarm_topic_arn": topic})
    acct = Account(topic={"SubscriptionsConfirmed": "0", "KmsMasterKeyId": "alias/pager-key"})
    code, table = check_and_run(account_stubs, capsys, acct, ctx, SMALL)
    assert code == 0
    status, detail, _ = table["alarm topic"]
    assert status == "WARN"
    assert "encrypted with alias/pager-key: its key policy must let cloudwatch" in detail
    assert f"owned by 111122223333: its policy must let alarms of {ACCOUNT} publish" in detail
    assert "no confirmed subscription" in detail


def test_deprecated_engine_and_an_optional_destination_missing_warn(
    account_stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = context(monitoring={"alarm_email": None})
    code, table = check_and_run(
        account_stubs, capsys, Account(engine_status="deprecated"), ctx, SMALL
    )
    assert code == 0
    assert table["postgres version"][0] == "WARN"
    assert table["alarm destination"][0] == "WARN"
    assert "notify nobody" in table["alarm destination"][1]


def test_a_denied_read_is_a_warning_that_says_what_was_not_checked(
    account_stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an identity that may not list proxies (the rest answers normally)
    code, table = check_and_run(account_stubs, capsys, Account(proxies=None), context(), SMALL)
    # THEN that check is a warning naming the call; nothing fails
    assert code == 0
    status, detail, fix = table["rds proxy quota"]
    assert (status, detail) == ("WARN", "not checked: DescribeDBProxies was denied (AccessDenied)")
    assert "allow DescribeDBProxies to the identity running preflight" in fix


def test_an_app_that_does_not_synthesize_fails_the_bootstrap_check(
    account_stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = context()
    stub_account(account_stubs, Account(synthesizes=False), load(SMALL, ctx))

    def broken() -> BootstrapRequirement:
        raise RuntimeError("Validation failed with the following errors:\n  [x] AwsSolutions-L1")

    assert run(account_stubs, ctx, bootstrap=broken) == 1
    account_stubs.assert_done()
    status, detail, fix = rows(capsys.readouterr().out)["cdk bootstrap"]
    assert status == "FAIL"
    assert detail == (
        "the CDK app did not synthesize, so its bootstrap needs are unknown: "
        "Validation failed with the following errors:"
    )
    assert fix == "run make synth ENV=small and fix what it reports"


# --- cannot run: exit 2 with one line -------------------------------------------------------------


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert captured.out == ""
    return lines[0]


def test_no_credentials_exits_2(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(None, context(), SMALL, "--region", REGION) == 2
    assert "no AWS credentials found" in one_line_error(capsys)


def test_no_region_exits_2(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(None, context()) == 2
    assert "no AWS region configured" in one_line_error(capsys)


def test_aws_region_is_honoured_like_the_cdk_cli_does(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # botocore alone ignores AWS_REGION; the deploy (CDK CLI) reads it first
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert run(None, context()) == 2
    assert "no AWS credentials found" in one_line_error(capsys)


def test_expired_credentials_exit_2(
    account_stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    account_stubs.sts.add_client_error(
        "get_caller_identity", "ExpiredToken", "The security token included is expired", 403
    )
    assert run(account_stubs, context()) == 2
    assert "AWS rejected the credentials in eu-west-1: ExpiredToken" in one_line_error(capsys)


def test_invalid_configuration_exits_2(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = context(database={"engine_version": "9.6"})
    assert run(None, ctx, SMALL, "--offline") == 2
    assert "configuration: environments.small.database.engine_version" in one_line_error(capsys)


# --- --offline: the configuration checks, no AWS call -------------------------------------------


def test_offline_refuses_a_required_destination_that_is_missing(
    account_stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN large requires a destination and has none
    ctx = context(LARGE, monitoring={"alarm_topic_arn": None})
    # WHEN preflight runs offline (the Stubbers raise on any AWS call)
    assert run(account_stubs, ctx, LARGE, "--offline") == 1
    # THEN the deploy stops on the destination alone
    out = capsys.readouterr().out
    assert out.startswith("preflight (offline: configuration only) Fixture-large\n")
    assert rows(out) == {
        "alarm destination": (
            "FAIL",
            "environments.large.monitoring: alarm_destination_required is true but neither "
            "alarm_email nor alarm_topic_arn is set: every alarm would notify nobody. Set one of "
            "them (make deploy and make preflight refuse to deploy until you do).",
            "set environments.large.monitoring.alarm_email or alarm_topic_arn in cdk.json",
        )
    }
    account_stubs.assert_done()


def test_offline_needs_no_credentials(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(None, context(), SMALL, "--offline") == 0
    assert rows(capsys.readouterr().out) == {
        "alarm destination": ("PASS", "alarms notify e-mail oncall@example.com", "")
    }


@pytest.mark.parametrize("env", environment_names(read_context(CDK_JSON)))
def test_shipped_environments_offline_follow_their_destination_rule(
    aws_env: None, capsys: pytest.CaptureFixture[str], env: str
) -> None:
    # cdk.json on purpose, whatever a fork names and tunes in it: the rule, not its values
    shipped = read_context(CDK_JSON)
    config = load(env, shipped)
    monitoring = config.monitoring
    expected = 1 if monitoring.alarm_destination_required and not monitoring.has_destination else 0
    assert preflight.main(["--env", env, "--offline"], context=shipped) == expected
    out = capsys.readouterr().out
    assert out.startswith(
        f"preflight (offline: configuration only) {config.project.app_name}-{env}\n"
    )
    assert "alarm destination" in out


# --- make deploy runs it first --------------------------------------------------------------------


def _make_n(*args: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.pop("SKIP_PREFLIGHT", None)
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def _position(lines: list[str], fragment: str) -> int:
    return next(i for i, line in enumerate(lines) if fragment in line)


# `make deploy` names the environment's stacks from cdk.json (ops.stack_names), so even
# `make -n deploy` needs an environment cdk.json has: its last one, whatever a fork calls it.
SHIPPED_ENV = environment_names(read_context(CDK_JSON))[-1]


@pytest.mark.parametrize(
    ("args", "preflight_command"),
    [
        (("deploy", f"ENV={SHIPPED_ENV}"), f"-m ops.preflight --env {SHIPPED_ENV}"),
        (
            ("deploy", f"ENV={SHIPPED_ENV}", "SKIP_PREFLIGHT=1"),
            f"-m ops.preflight --env {SHIPPED_ENV} --offline",
        ),
    ],
)
def test_make_deploy_runs_preflight_before_cdk_deploy(
    args: tuple[str, ...], preflight_command: str
) -> None:
    lines = _make_n(*args)
    checked = _position(lines, "-m ops.preflight")
    assert lines[checked].endswith(preflight_command)
    assert checked < _position(lines, "cdk deploy")


def test_make_preflight_target() -> None:
    assert _make_n("preflight", f"ENV={LARGE}")[-1].endswith(f"-m ops.preflight --env {LARGE}")


@pytest.mark.parametrize(
    ("multi_az", "status"),
    [(False, "WARN"), (True, "FAIL")],  # a Multi-AZ standby needs a second AZ of the class
)
def test_pinned_azs_the_class_is_not_offered_in(
    account_stubs: Stubs, capsys: pytest.CaptureFixture[str], multi_az: bool, status: str
) -> None:
    ctx = context(
        network={"availability_zones": [ZONES[0], ZONES[2]]}, database={"multi_az": multi_az}
    )
    acct = Account(options=[option(AvailabilityZones=[{"Name": ZONES[0]}, {"Name": ZONES[1]}])])
    code, table = check_and_run(account_stubs, capsys, acct, ctx, SMALL)
    assert code == (1 if status == "FAIL" else 0)
    assert table["instance class"][0] == status
    assert "not offered in pinned eu-west-1c" in table["instance class"][1]
    assert table["availability zones"] == ("PASS", "pinned eu-west-1a, eu-west-1c available", "")


# --- the Aurora shape ----------------------------------------------------------------------------

AURORA = aurora_context()  # Serverless v2 1..8 ACU, a writer and two readers


def test_a_healthy_aurora_account_passes(
    account_stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an account that offers Aurora PostgreSQL 17.9 and db.serverless up to 256 ACU
    # WHEN preflight runs for the Aurora environment (the stubs expect Engine aurora-postgresql)
    code, table = check_and_run(account_stubs, capsys, Account(), AURORA, SMALL)
    # THEN the cluster's classes, its capacity and its quotas are checked and pass
    assert code == 0, table
    assert set(table) == FRESH_ACCOUNT_CHECKS | {"serverless capacity"}
    assert {status for status, _, _ in table.values()} == {"PASS"}
    assert table["postgres version"][1].startswith("Aurora PostgreSQL 17.9 offered (available)")
    assert table["instance class"][1] == (
        "db.serverless (writer and 2 reader(s)) / Aurora PostgreSQL 17.9 orderable in 3 AZs"
    )
    assert table["serverless capacity"][1] == (
        "serverless_min_acu..max_acu 1..8 within the 0..256 ACU Aurora PostgreSQL 17.9 supports"
    )
    # one cluster, three instances, a cluster parameter group, no allocated storage
    assert table["rds quotas"][1] == (
        "DBClusters 1/40, DBInstances 3/40, DBSubnetGroups 3/50, DBClusterParameterGroups 1/50"
    )


AURORA_FAILURES = [
    pytest.param(
        Account(cluster_options={"db.r6g.large": []}),
        aurora_context(instance_class="r6g.large", reader_class="serverless"), "instance class",
        "db.r6g.large (writer) / Aurora PostgreSQL 17.9 not orderable in a VPC in eu-west-1",
        r"set database.instance_class \(writer\) / reader_class \(readers\).*--engine "
        r"aurora-postgresql --engine-version 17.9", id="writer-class-not-orderable",
    ),
    pytest.param(
        Account(cluster_options={
            "db.serverless": [aurora_option(SupportsIAMDatabaseAuthentication=False)]
        }),
        AURORA, "instance class",
        "db.serverless (writer and 2 reader(s)) / Aurora PostgreSQL 17.9: no IAM database "
        "authentication", r"'serverless' is db.serverless", id="class-without-iam-auth",
    ),
    pytest.param(
        Account(serverless_limits={"MinCapacity": 0.5, "MaxCapacity": 128.0}),
        aurora_context(serverless_max_acu=200), "serverless capacity",
        "serverless_max_acu 200 above 128: outside the 0.5..128 ACU Aurora PostgreSQL 17.9 "
        "supports", r"set database.serverless_max_acu <= 128 .*or move database.engine_version",
        id="acu-above-the-version-limit",
    ),
    pytest.param(
        Account(rds_quotas={"DBInstances": (38, 40), "DBClusters": (40, 40)}), AURORA,
        "rds quotas", "quota reached: DBClusters 40 + 1 > 40; DBInstances 38 + 3 > 40",
        r"Service Quotas \(service rds\)", id="cluster-quotas",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("acct", "ctx", "check", "detail", "fix"), AURORA_FAILURES)
def test_each_aurora_failure_names_its_fix(  # noqa: PLR0917  # one parameter per column
    account_stubs: Stubs,
    capsys: pytest.CaptureFixture[str],
    acct: Account,
    ctx: dict[str, Any],
    check: str,
    detail: str,
    fix: str,
) -> None:
    code, table = check_and_run(account_stubs, capsys, acct, ctx, SMALL)
    assert_only_failure(code, table, check, detail, fix)


def test_serverless_limits_not_reported_warn(
    account_stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    code, table = check_and_run(
        account_stubs, capsys, Account(serverless_limits=None), AURORA, SMALL
    )
    assert code == 0
    status, detail, fix = table["serverless capacity"]
    assert status == "WARN"
    assert "reports no ServerlessV2FeaturesSupport: the range is not checked" in detail
    assert "--query 'DBEngineVersions[].ServerlessV2FeaturesSupport'" in fix


def test_a_provisioned_aurora_cluster_has_no_capacity_row(
    account_stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = aurora_context(
        instance_class="r6g.large", serverless_min_acu=None, serverless_max_acu=None
    )
    code, table = check_and_run(account_stubs, capsys, Account(), ctx, SMALL)
    assert code == 0, table
    assert "serverless capacity" not in table
    assert table["instance class"][1] == (
        "db.r6g.large (writer and 2 reader(s)) / Aurora PostgreSQL 17.9 orderable in 3 AZs"
    )
