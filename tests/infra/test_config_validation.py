"""Config validation: every kind of bad value fails with a message naming key, value and range."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from pydantic import ValidationError

from stacks.aws_facts import IAM_ROLE_NAME_MAX_LENGTH
from stacks.config import AppConfig, ConfigError, min_max_storage_gib
from stacks.config_fields import problems
from stacks.loader import environment_names, from_node, load, load_ci, read_context
from tests.fixture_config import APP_NAME, LARGE, SMALL, fixture_ci_context, fixture_context

pytestmark = pytest.mark.infra


def _with(section: str, key: str, value: object, env: str = SMALL) -> dict[str, Any]:
    context = fixture_context()
    context["environments"][env][section][key] = value
    return context


def _without(section: str, key: str, env: str = SMALL) -> dict[str, Any]:
    context = fixture_context()
    del context["environments"][env][section][key]
    return context


@pytest.mark.parametrize("name", environment_names())
def test_every_cdk_json_environment_is_valid(name: str) -> None:
    config = load(name)
    assert config.env_name == name
    assert config.data_stack_name == f"{config.project.app_name}-{name}-Data"


def test_fixture_environments_are_valid() -> None:
    context = fixture_context()
    for name in (SMALL, LARGE):
        config = load(name, context)
        assert config.service_stack_name == f"{APP_NAME}-{name}-Service"
    assert load(None, context).env_name == SMALL  # project.default_env


BAD_VALUES = [
    # (id, section, key, value, expected message fragment)
    (
        "unknown-key",
        "proxy",
        "max_conections_percent",
        50,
        r"proxy\.max_conections_percent: unknown key",
    ),
    (
        "wrong-type-str",
        "proxy",
        "max_connections_percent",
        "80",
        r"max_connections_percent: expected int, got str '80'",
    ),
    (
        "bool-for-int",
        "functions",
        "timeout_s",
        True,
        r"functions\.timeout_s: expected int, got bool True",
    ),
    ("int-for-bool", "database", "multi_az", 1, r"database\.multi_az: expected bool, got int 1"),
    ("null-for-int", "database", "backup_retention_days", None, r"expected int, got null"),
    (
        "percent-too-high",
        "proxy",
        "max_connections_percent",
        101,
        r"max_connections_percent: value 101 out of range; allowed 1\.\.100 \(leaves ≥ "
        r"database\.admin_headroom_min_connections",
    ),
    (
        "percent-zero",
        "proxy",
        "max_connections_percent",
        0,
        r"value 0 out of range; allowed 1\.\.100",
    ),
    (
        "idle-above-max",
        "proxy",
        "max_idle_connections_percent",
        90,
        r"max_idle_connections_percent: value 90 out of range; "
        r"allowed 0\.\.max_connections_percent \(70\)",
    ),
    (
        "borrow-ge-lambda",
        "proxy",
        "borrow_timeout_s",
        14,
        r"borrow_timeout_s: value 14 out of range; allowed 1\.\.13",
    ),
    (
        "borrow-over-cloudformation-max",
        "proxy",
        "borrow_timeout_s",
        301,
        r"borrow_timeout_s: value 301 out of range; allowed 1\.\.300",
    ),
    (
        "bad-choice",
        "functions",
        "architecture",
        "arm",
        r"functions\.architecture: value 'arm' not allowed; allowed: 'arm64', 'x86_64'",
    ),
    ("bad-engine", "database", "engine_version", "17", r"engine_version: value '17' not allowed"),
    (
        "bad-retention",
        "functions",
        "log_retention_days",
        10,
        r"log_retention_days: value 10 not allowed",
    ),
    (
        "api-over-http-max",
        "api",
        "integration_timeout_s",
        31,
        r"api\.integration_timeout_s: value 31 out of range; allowed 1\.\.30",
    ),
    (
        "reserved-zero",
        "functions",
        "api_reserved_concurrency",
        0,
        r"api_reserved_concurrency: value 0 out of range; allowed 1\.\.1000",
    ),
    (
        "unknown-endpoint",
        "network",
        "interface_endpoints",
        ["secretsmanager", "s3"],
        r"interface_endpoints: value 's3' not allowed",
    ),
    (
        "missing-endpoint",
        "network",
        "interface_endpoints",
        ["xray"],
        r"interface_endpoints: value \['xray'\] lacks 'secretsmanager'",
    ),
    (
        "bad-cidr",
        "network",
        "vpc_cidr",
        "10.0.0.0/8",
        r"network\.vpc_cidr: value '10\.0\.0\.0/8' is invalid: allowed prefix lengths",
    ),
    (
        "storage-ceiling-too-close",
        "database",
        "max_allocated_storage_gib",
        23,  # allocated 21: RDS wants >= 23.1, i.e. 24
        r"max_allocated_storage_gib: value 23 out of range; allowed 24\.\.65536 \(RDS wants the "
        r"autoscaling ceiling at least 10 % above allocated_storage_gib = 21",
    ),
    (
        "bad-class",
        "database",
        "instance_class",
        "t4g.huge",
        r"instance_class: value 't4g.huge' not allowed",
    ),
    (
        "bad-db-user",
        "proxy",
        "app_db_user",
        "App-User",
        r"app_db_user: value 'App-User' not allowed; expected a lower-case identifier",
    ),
    (
        "same-users",
        "proxy",
        "app_db_user",
        "shopadmin",
        r"app_db_user: value 'shopadmin' must differ",
    ),
    (
        "statement-timeout-budget",
        "app_role",
        "statement_timeout_ms",
        8000,
        re.escape("functions.timeout_s: value 14 is below connect (3) + borrow (4) + statement"),
    ),
    (
        "advanced-insights-short-retention",
        "database",
        "insights_mode",
        "advanced",
        r"performance_insights_retention_days: value 7 not allowed with insights_mode "
        r"'advanced'; allowed: 465, 496",
    ),
    (
        "az-count",
        "network",
        "availability_zones",
        ["eu-west-1a"],
        r"availability_zones: value \['eu-west-1a'\] not allowed; expected exactly max_azs \(2\)",
    ),
    (
        "az-two-regions",
        "network",
        "availability_zones",
        ["eu-west-1a", "us-east-1a"],
        r"availability_zones: .* distinct AZ names of one region",
    ),
    (
        "az-not-a-name",
        "network",
        "availability_zones",
        ["eu-west-1", "eu-west-1b"],
        r"availability_zones: value 'eu-west-1' not allowed; expected an AZ name",
    ),
    (
        "monitoring-unknown-key",
        "monitoring",
        "db_cpu_pct",
        80,
        r"monitoring\.db_cpu_pct: unknown key \(value 80\)",
    ),
    (
        "monitoring-wrong-type",
        "monitoring",
        "db_cpu_percent",
        "80",
        r"monitoring\.db_cpu_percent: expected int, got str '80'",
    ),
    (
        "monitoring-out-of-range",
        "monitoring",
        "db_cpu_percent",
        0,
        r"monitoring\.db_cpu_percent: value 0 out of range; allowed 1\.\.100",
    ),
    (
        "monitoring-bad-period",
        "monitoring",
        "period_seconds",
        45,
        r"monitoring\.period_seconds: value 45 is invalid: allowed: 10, 30 or a multiple of 60",
    ),
    (
        "monitoring-bad-email",
        "monitoring",
        "alarm_email",
        "oncall",
        r"monitoring\.alarm_email: value 'oncall' is invalid: not an e-mail address",
    ),
    (
        "monitoring-bad-topic",
        "monitoring",
        "alarm_topic_arn",
        "arn:aws:sns:eu-west-1:1234:pager",
        r"monitoring\.alarm_topic_arn: value .* not allowed; expected an SNS topic ARN",
    ),
    (
        "monitoring-alarm-below-proxy-share",
        "monitoring",
        "db_connections_alarm_percent",
        70,
        r"monitoring\.db_connections_alarm_percent: value 70 out of range; allowed 71\.\.100",
    ),
]


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [case[1:] for case in BAD_VALUES],
    ids=[case[0] for case in BAD_VALUES],
)
def test_bad_value_is_rejected_with_key_value_and_range(
    section: str, key: str, value: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as excinfo:
        load(SMALL, _with(section, key, value))
    assert f"environments.{SMALL}." in str(excinfo.value)
    assert_in_our_words(str(excinfo.value))


# What pydantic says in its own messages; the project words every problem itself.
PYDANTIC_WORDING = ("Input should", "validation error", "errors.pydantic.dev", "Field required")


def assert_in_our_words(message: str) -> None:
    assert not [w for w in PYDANTIC_WORDING if w in message], message


def test_every_problem_is_one_line_in_cdk_json_order() -> None:
    # GIVEN problems in several sections, one of them a rule between two keys of a section
    context = fixture_context()
    env = context["environments"][SMALL]
    env["monitoring"]["db_cpu_percent"] = "80"
    env["functions"].update(memory_mb=1, log_level="TRACE")
    env["proxy"]["max_idle_connections_percent"] = 90
    env["network"]["max_azs"] = 9
    with pytest.raises(ConfigError) as excinfo:
        load(SMALL, context)
    # THEN each is reported, once, on its own line, in the order of the keys in cdk.json
    where = f"environments.{SMALL}"
    assert excinfo.value.problems == (
        f"{where}.network.max_azs: value 9 out of range; allowed 2..3",
        f"{where}.proxy.max_idle_connections_percent: value 90 out of range; "
        "allowed 0..max_connections_percent (70)",
        f"{where}.functions.memory_mb: value 1 out of range; allowed 128..10240",
        f"{where}.functions.log_level: value 'TRACE' not allowed; "
        "allowed: 'DEBUG', 'INFO', 'WARNING', 'ERROR'",
        f"{where}.monitoring.db_cpu_percent: expected int, got str '80'",
    )
    assert str(excinfo.value) == "\n".join(excinfo.value.problems)


def test_an_unforeseen_pydantic_error_is_still_worded_with_key_value_and_limits() -> None:
    # A kind of error the wording has no sentence for falls back to the field's limits.
    error = ValidationError.from_exception_data(
        "AppConfig",
        [{"type": "finite_number", "loc": ("proxy", "borrow_timeout_s"), "input": float("inf")}],
    )
    assert problems(error, AppConfig, "environments.x") == [
        "environments.x.proxy.borrow_timeout_s: value float inf not allowed; "
        "allowed: 1..300; < functions.timeout_s"
    ]


def test_the_wording_check_sees_pydantic_wording() -> None:
    with pytest.raises(AssertionError):
        assert_in_our_words("1 validation error for AppConfig\n  Input should be a valid integer")


def test_missing_key_is_named() -> None:
    with pytest.raises(
        ConfigError, match=rf"environments\.{SMALL}\.api\.throttle_rate_limit: missing key"
    ):
        load(SMALL, _without("api", "throttle_rate_limit"))


def test_monitoring_keys_are_optional_with_policy_defaults() -> None:
    context = fixture_context()
    del context["environments"][SMALL]["monitoring"]
    config = load(SMALL, context)
    assert config.monitoring.db_connections_alarm_percent == 90
    assert config.monitoring.alarm_email is None
    assert not config.monitoring.has_destination


def test_other_sections_are_required() -> None:
    context = fixture_context()
    del context["environments"][SMALL]["app_role"]
    with pytest.raises(ConfigError, match=rf"environments\.{SMALL}\.app_role: expected an object"):
        load(SMALL, context)


def test_unknown_section_is_named() -> None:
    context = fixture_context()
    context["environments"][SMALL]["monitorng"] = {}
    with pytest.raises(ConfigError, match=rf"environments\.{SMALL}\.monitorng: unknown key"):
        load(SMALL, context)


def test_lambda_timeout_must_fit_the_api_integration_timeout() -> None:
    with pytest.raises(
        ValueError,
        match=r"api\.integration_timeout_s: value 10 is below functions\.timeout_s \(14\); "
        r"allowed 14\.\.30",
    ):
        load(SMALL, _with("api", "integration_timeout_s", 10))


def test_connection_budget_violation_names_percent_and_allowed_range() -> None:
    # 413 connections, headroom minimum 30: 92 % leaves 34, 93 % leaves 29
    context = _with("proxy", "max_connections_percent", 95)
    context["environments"][SMALL]["monitoring"]["db_connections_alarm_percent"] = 96
    with pytest.raises(
        ValueError,
        match=r"proxy\.max_connections_percent: value 95 leaves 21 of 413 connections "
        r".* allowed 1\.\.92",
    ):
        load(SMALL, context)
    context["environments"][SMALL]["proxy"]["max_connections_percent"] = 92
    assert load(SMALL, context).proxy.max_connections_percent == 92


def test_unknown_environment_is_rejected_naming_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"env: value 'staging' not allowed; allowed: small, large"
    ):
        load("staging", fixture_context())


def test_an_environment_is_a_cdk_json_edit_only() -> None:
    # GIVEN a context with a third environment copied from another one
    context = fixture_context()
    context["environments"]["staging"] = copy.deepcopy(context["environments"][LARGE])
    # THEN it is known and loads, named after its key
    assert environment_names(context) == (SMALL, LARGE, "staging")
    assert load("staging", context).data_stack_name == f"{APP_NAME}-staging-Data"


def test_environment_names_must_fit_stack_names() -> None:
    context = fixture_context()
    context["environments"]["Stage_1"] = context["environments"][SMALL]
    with pytest.raises(ConfigError, match=r"environments\.Stage_1: invalid environment name"):
        load("Stage_1", context)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("app_name", "pg proxy", r"project\.app_name: value 'pg proxy' not allowed; expected Pas"),
        ("service_name", "Orders", r"project\.service_name: value 'Orders' not allowed"),
        ("default_env", "qa", r"env: value 'qa' not allowed; allowed: small, large"),
    ],
)
def test_project_names_are_validated(key: str, value: str, message: str) -> None:
    context = fixture_context()
    context["project"][key] = value
    with pytest.raises(ConfigError, match=message):
        load(SMALL, context)


def test_names_derive_from_the_project_keys() -> None:
    context = fixture_context()
    context["project"].update(app_name="Acme", service_name="billing")
    config = load(SMALL, context)
    assert (config.data_stack_name, config.service_stack_name) == (
        f"Acme-{SMALL}-Data",
        f"Acme-{SMALL}-Service",
    )
    assert config.project.metrics_namespace == "AcmeBilling"


class _Node:
    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context

    def try_get_context(self, key: str) -> Any:
        return self.context.get(key)


def test_from_node_defaults_to_the_project_default_and_honours_env() -> None:
    context = fixture_context()
    assert from_node(_Node(context)).env_name == SMALL
    assert from_node(_Node({**context, "env": LARGE})).env_name == LARGE
    with pytest.raises(ConfigError, match=r"env: value 'qa' not allowed"):
        from_node(_Node({**context, "env": "qa"}))


def test_nat_switch_drops_the_endpoint_requirement() -> None:
    context = _with("network", "nat_gateways", 1)
    context["environments"][SMALL]["network"]["interface_endpoints"] = []
    assert load(SMALL, context).required_endpoints() == {}


def test_read_context_names_a_broken_file(tmp_path: Any) -> None:
    broken = tmp_path / "cdk.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=r"cdk\.json: cannot read it as JSON"):
        read_context(broken)


@pytest.mark.parametrize(("allocated", "lowest"), [(20, 22), (21, 24), (100, 110), (1000, 1100)])
def test_storage_ceiling_is_ten_percent_above_allocated(allocated: int, lowest: int) -> None:
    # AWS: "at least 10% greater": 1000 GiB allocated -> 1100 GiB ceiling at least
    assert min_max_storage_gib(allocated) == lowest
    context = _with("database", "allocated_storage_gib", allocated)
    context["environments"][SMALL]["database"]["max_allocated_storage_gib"] = lowest
    assert load(SMALL, context).database.max_allocated_storage_gib == lowest
    context["environments"][SMALL]["database"]["max_allocated_storage_gib"] = lowest - 1
    with pytest.raises(ConfigError, match="max_allocated_storage_gib"):
        load(SMALL, context)


# --- the optional `ci` section (deploying from GitHub Actions) ---------------------------------


def _no_branch() -> dict[str, Any]:
    context = fixture_ci_context()
    del context["ci"]["branch"]
    return context


def test_the_ci_section_is_optional_and_defaults_the_branch() -> None:
    assert load_ci(fixture_context()) is None
    plan = load_ci(_no_branch())
    assert plan is not None
    assert plan.branch == "main"
    assert plan.oidc_provider_arn is None  # the stack creates the provider
    assert [t.env for t in plan.targets] == [SMALL, LARGE]  # cdk.json order
    assert [t.subject for t in plan.targets] == [
        "repo:fixture-org/fixture-repo:environment:staging-gh",
        "repo:fixture-org/fixture-repo:environment:production-gh",
    ]
    assert plan.diff_subject == "repo:fixture-org/fixture-repo:pull_request"


def test_the_shipped_ci_section_deploys_cdk_json_environments_in_order() -> None:
    plan = load_ci()
    if plan is None:
        pytest.skip("this cdk.json has no `ci` section (a fork that does not deploy from CI)")
    names = [t.env for t in plan.targets]
    assert set(names) <= set(environment_names())
    assert len(set(names)) == len(names)
    prod = plan.target("prod")
    if prod is not None:  # prod last, after every other environment, in its own environment
        assert names[-1] == "prod"
        assert ":environment:" in prod.subject


CI_BAD_VALUES = [
    (
        "repository-no-owner",
        {"repository": "fixture-repo"},
        r"^ci\.repository: value 'fixture-repo' not allowed; expected owner/name",
    ),
    (
        "repository-wildcard",
        {"repository": "fixture-org/*"},
        r"^ci\.repository: value 'fixture-org/\*' not allowed",
    ),
    (
        "account",
        {"account": "4444"},
        r"^ci\.account: value '4444' not allowed; expected 12 digits$",
    ),
    (
        "region",
        {"region": "Frankfurt"},
        r"^ci\.region: value 'Frankfurt' not allowed; expected a region code",
    ),
    (
        "branch-wildcard",
        {"branch": "release/*"},
        r"^ci\.branch: value 'release/\*' not allowed; expected a branch name",
    ),
    ("branch-dotdot", {"branch": "a..b"}, r"^ci\.branch: value 'a\.\.b' not allowed"),
    (
        "no-environments",
        {"environments": []},
        r"^ci\.environments: expected at least 1 item\(s\), got list \[\]$",
    ),
    (
        "environments-not-a-list",
        {"environments": "small"},
        r"^ci\.environments: expected a list, got str 'small'$",
    ),
    (
        "unknown-env",
        {"environments": [{"env": "qa", "github_environment": "qa"}]},
        r"^ci\.environments\.env: value 'qa' not allowed; allowed: small, large "
        r"\(the keys of context\.environments",
    ),
    (
        "missing-github-environment",
        {"environments": [{"env": SMALL}]},
        r"^ci\.environments\.github_environment: missing key$",
    ),
    (
        "github-environment-wildcard",
        {"environments": [{"env": SMALL, "github_environment": "prod*"}]},
        r"^ci\.environments\.github_environment: value 'prod\*' not allowed; expected letters",
    ),
    (
        "unknown-key-in-item",
        {"environments": [{"env": SMALL, "github_environment": "s", "role": "x"}]},
        r"^ci\.environments\.role: unknown key \(value 'x'\); "
        r"allowed keys: env, github_environment$",
    ),
    (
        "repeated-env",
        {
            "environments": [
                {"env": SMALL, "github_environment": "a"},
                {"env": SMALL, "github_environment": "b"},
            ]
        },
        r"^ci\.environments\.env: value 'small' appears more than once",
    ),
    (
        "repeated-github-environment",
        {
            "environments": [
                {"env": SMALL, "github_environment": "a"},
                {"env": LARGE, "github_environment": "a"},
            ]
        },
        r"^ci\.environments\.github_environment: value 'a' appears more than once",
    ),
    (
        "provider-arn",
        {"oidc_provider_arn": "arn:aws:iam::444455556666:oidc-provider/gitlab.com"},
        r"^ci\.oidc_provider_arn: value 'arn:aws:iam::444455556666:oidc-provider/gitlab\.com' "
        r"not allowed; expected "
        r"arn:aws:iam::<account>:oidc-provider/token\.actions\.githubusercontent\.com$",
    ),
    (
        "unknown-key",
        {"repo": "x/y"},
        r"^ci\.repo: unknown key \(value 'x/y'\); allowed keys: account, branch, "
        r"environments, oidc_provider_arn, region, repository$",
    ),
]


@pytest.mark.parametrize(
    ("changes", "message"), [c[1:] for c in CI_BAD_VALUES], ids=[c[0] for c in CI_BAD_VALUES]
)
def test_a_malformed_ci_value_fails_with_one_line_naming_the_key(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_ci(fixture_ci_context(**changes))
    (line,) = caught.value.problems
    assert re.search(message, line), line


def test_a_ci_section_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^ci: expected an object, got str 'yes'$"):
        load_ci({**fixture_context(), "ci": "yes"})


def test_role_names_fit_iam_at_the_longest_names_config_allows() -> None:
    # app_name up to 30 characters, environment names up to 15 (stacks/config.py)
    context = fixture_ci_context(environments=[{"env": "e" * 15, "github_environment": "g"}])
    context["project"]["app_name"] = "A" + "b" * 29
    context["environments"] = {"e" * 15: context["environments"][SMALL]}
    context["project"]["default_env"] = "e" * 15
    plan = load_ci(context)
    assert plan is not None
    (target,) = plan.targets
    names = [plan.diff_role, target.deploy_role, target.smoke_role]
    assert max(len(n) for n in names) <= IAM_ROLE_NAME_MAX_LENGTH.value == 64
