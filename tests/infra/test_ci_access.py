"""CI access (cdk.json `ci`): which GitHub OIDC claims each role admits, what each may assume,
and that one environment's smoke role reaches nothing of another's. Policies are read from the
synthesized templates and evaluated (iam_eval) with literal claims and ARNs."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from iam_eval import Environment, Principal, allowed
from infra_support import Synthesized, synthesize
from test_cdk_nag import nag_acknowledgments, smoke_acks

from stacks.app_builder import build_from_context
from stacks.loader import QUALIFIER_CONTEXT_KEY
from tests.fixture_config import (
    APP_NAME,
    FIXTURE_CI,
    LARGE,
    SMALL,
    aurora_context,
    fixture_ci_context,
)

pytestmark = pytest.mark.infra

ACCOUNT, REGION = FIXTURE_CI["account"], FIXTURE_CI["region"]
REPO = FIXTURE_CI["repository"]
ISSUER = "token.actions.githubusercontent.com"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"
QUALIFIER = "team01"
SUB = {
    SMALL: f"repo:{REPO}:environment:staging-gh",
    LARGE: f"repo:{REPO}:environment:production-gh",
}
DEPLOY_ROLE = {SMALL: f"{APP_NAME}-ci-deploy-{SMALL}", LARGE: f"{APP_NAME}-ci-deploy-{LARGE}"}
SMOKE_ROLE = {SMALL: f"{APP_NAME}-ci-smoke-{SMALL}", LARGE: f"{APP_NAME}-ci-smoke-{LARGE}"}
DIFF_ROLE = f"{APP_NAME}-ci-diff"


def _context(**ci_changes: Any) -> dict[str, Any]:
    return {**fixture_ci_context(**ci_changes), QUALIFIER_CONTEXT_KEY: QUALIFIER}


@pytest.fixture(scope="module")
def apps() -> dict[str, Synthesized]:
    """Both fixture environments, built with the fixture `ci` section (cdk-nag runs here)."""
    return {env: synthesize(build_from_context(_context(), env)) for env in (SMALL, LARGE)}


def _role(synth: Synthesized, name: str) -> dict[str, Any]:
    assert synth.ci is not None
    roles = [
        r["Properties"]
        for r in [
            *synth.ci.find_resources("AWS::IAM::Role").values(),
            *synth.service.find_resources("AWS::IAM::Role").values(),
        ]
        if r["Properties"].get("RoleName") == name
    ]
    assert len(roles) == 1, name
    return roles[0]


def _arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


# --- trust: which tokens become which role ---------------------------------------------------


def _admits(role: dict[str, Any], claims: dict[str, str], provider: str = PROVIDER) -> bool:
    trust = Environment(account=ACCOUNT, physical=lambda *_: provider)
    statements = trust.resolve(role["AssumeRolePolicyDocument"]["Statement"])
    context = {f"{ISSUER}:{key}": value for key, value in claims.items()}
    return allowed(
        statements,
        principal=Principal(federated=PROVIDER),
        action="sts:AssumeRoleWithWebIdentity",
        context=context,
    )


def _claims(sub: str, aud: str | None = "sts.amazonaws.com") -> dict[str, str]:
    return {"sub": sub} if aud is None else {"sub": sub, "aud": aud}


# Every token a test offers each role; a role must admit exactly its configured one.
TOKENS = {
    "staging environment": _claims(SUB[SMALL]),
    "production environment": _claims(SUB[LARGE]),
    "pull request": _claims(f"repo:{REPO}:pull_request"),
    "deploy branch, no environment": _claims(f"repo:{REPO}:ref:refs/heads/release"),
    "another branch": _claims(f"repo:{REPO}:ref:refs/heads/feature"),
    "another repository": _claims("repo:other-org/fixture-repo:environment:staging-gh"),
    "a fork's pull request": _claims("repo:someone/fixture-repo:pull_request"),
    "a wildcard subject": _claims(f"repo:{REPO}:*"),
    "environment wildcard": _claims(f"repo:{REPO}:environment:*"),
    "no aud": _claims(SUB[SMALL], aud=None),
    "GitHub's default aud": _claims(SUB[SMALL], aud="https://github.com/fixture-org"),
}


@pytest.mark.parametrize(
    ("role_name", "admitted"),
    [
        (DEPLOY_ROLE[SMALL], {"staging environment"}),
        (DEPLOY_ROLE[LARGE], {"production environment"}),
        (DIFF_ROLE, {"pull request"}),
    ],
)
def test_each_role_admits_exactly_its_configured_claims(
    apps: dict[str, Synthesized], role_name: str, admitted: set[str]
) -> None:
    role = _role(apps[SMALL], role_name)
    found = {name for name, claims in TOKENS.items() if _admits(role, claims)}
    assert found == admitted
    # the operator is StringEquals and no value holds a wildcard IAM would honour elsewhere
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert set(statement["Condition"]) == {"StringEquals"}
    for value in statement["Condition"]["StringEquals"].values():
        assert not set(value) & {"*", "?"}


def test_a_token_of_another_provider_is_refused(apps: dict[str, Synthesized]) -> None:
    role = _role(apps[SMALL], DEPLOY_ROLE[SMALL])
    other = f"arn:aws:iam::{ACCOUNT}:oidc-provider/gitlab.com"
    assert _admits(role, TOKENS["staging environment"])
    assert not _admits(role, TOKENS["staging environment"], provider=other)


def test_the_evaluator_sees_the_classic_wildcard_hole(apps: dict[str, Synthesized]) -> None:
    """The exact-claims test can fail: StringLike with repo:OWNER/NAME:* admits every branch,
    pull request and environment of the repository."""
    role = copy.deepcopy(_role(apps[SMALL], DEPLOY_ROLE[SMALL]))
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    condition = statement["Condition"].pop("StringEquals")
    statement["Condition"] = {"StringLike": {**condition, f"{ISSUER}:sub": f"repo:{REPO}:*"}}
    found = {name for name, claims in TOKENS.items() if _admits(role, claims)}
    assert {"another branch", "pull request", "production environment"} <= found


# --- permissions: what each role may do ------------------------------------------------------


def _bootstrap(kind: str) -> str:
    return _arn(f"cdk-{QUALIFIER}-{kind}-role-{ACCOUNT}-{REGION}")


def _may_assume(role: dict[str, Any]) -> set[str]:
    """Every resource the role's policies allow sts:AssumeRole on (literal ARNs)."""
    env = Environment(account=ACCOUNT, region=REGION)
    found: set[str] = set()
    for policy in role.get("Policies", []):
        for statement in env.resolve(policy["PolicyDocument"]["Statement"]):
            assert statement["Effect"] == "Allow"
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            assert actions == ["sts:AssumeRole"], actions
            resources = statement["Resource"]
            found |= set(resources if isinstance(resources, list) else [resources])
    return found


@pytest.mark.parametrize("env", [SMALL, LARGE])
def test_a_deploy_role_may_only_assume_the_bootstrap_roles_and_its_smoke_role(
    apps: dict[str, Synthesized], env: str
) -> None:
    role = _role(apps[SMALL], DEPLOY_ROLE[env])
    assert _may_assume(role) == {
        f"arn:aws:iam::444455556666:role/cdk-team01-{kind}-role-444455556666-eu-central-1"
        for kind in ("deploy", "file-publishing", "image-publishing", "lookup")
    } | {f"arn:aws:iam::444455556666:role/Fixture-ci-smoke-{env}"}
    assert role["MaxSessionDuration"] == 3600
    assert "ManagedPolicyArns" not in role


def test_the_diff_role_may_only_assume_the_lookup_role(apps: dict[str, Synthesized]) -> None:
    role = _role(apps[SMALL], DIFF_ROLE)
    assert _may_assume(role) == {
        "arn:aws:iam::444455556666:role/cdk-team01-lookup-role-444455556666-eu-central-1"
    }
    assert role["MaxSessionDuration"] == 3600
    assert "ManagedPolicyArns" not in role


def test_the_provider_is_created_native_and_retained(apps: dict[str, Synthesized]) -> None:
    ci = apps[SMALL].ci
    assert ci is not None
    (provider,) = ci.find_resources("AWS::IAM::OIDCProvider").values()
    assert provider["Properties"] == {
        "Url": "https://token.actions.githubusercontent.com",
        "ClientIdList": ["sts.amazonaws.com"],
    }
    assert provider["DeletionPolicy"] == "Retain"
    assert ci.find_resources("AWS::Lambda::Function") == {}  # no custom-resource provider
    assert ci.find_resources("Custom::AWSCDKOpenIdConnectProvider") == {}


def test_an_existing_provider_is_imported_by_arn() -> None:
    built = build_from_context(_context(oidc_provider_arn=PROVIDER), SMALL)
    ci = synthesize(built).ci
    assert ci is not None
    assert ci.find_resources("AWS::IAM::OIDCProvider") == {}
    for role in ci.find_resources("AWS::IAM::Role").values():
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Federated": PROVIDER}


# --- the smoke role: this environment's resources, nobody else's ------------------------------


def _physical(env: str) -> Callable[[str, str, str], str]:
    """Physical values as CloudFormation would give `env`'s resources (names from its stacks)."""
    data, service = f"{APP_NAME}-{env}-Data", f"{APP_NAME}-{env}-Service"

    def value(kind: str, name: str, attribute: str) -> str:
        if kind == "ImportValue":  # the migration function, exported by the data stack
            assert name.startswith(f"{data}:ExportsOutputFnGetAttMigrationFunction"), name
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{data}-MigrationFunction-x1"
        if kind == "Ref" and name.startswith("ApiHttpApi"):
            return f"api{env}"
        if kind == "GetAtt" and name.startswith("Functions"):
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{service}-{name}-x2"
        if kind == "GetAtt" and name.startswith("Monitoring"):
            return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{service}-{name}-x3"
        raise AssertionError(f"unexpected reference {kind} {name} {attribute}")

    return value


def _stack_arn(name: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/0a1b2c3d-uuid"


def _smoke_calls(env: str) -> list[tuple[str, str]]:
    """(action, resource) of every call ops/smoke.py makes against `env`."""
    data, service = f"{APP_NAME}-{env}-Data", f"{APP_NAME}-{env}-Service"
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
    return [
        ("cloudformation:DescribeStacks", _stack_arn(data)),
        ("cloudformation:DescribeStacks", _stack_arn(service)),
        ("cloudformation:ListStackResources", _stack_arn(service)),
        ("lambda:InvokeFunction", f"{function}:{data}-MigrationFunction-x1"),
        ("lambda:InvokeFunction", f"{function}:{service}-FunctionsDirect5CF5CD0F-x2"),
        (
            "execute-api:Invoke",
            f"arn:aws:execute-api:{REGION}:{ACCOUNT}:api{env}/$default/GET/customers/"
            "0b6f2a52-8f0e-4e3c-9a51-2d7c6a1f9e10/orders",
        ),
        ("cloudwatch:DescribeAlarms", _alarm(env)),
        ("cloudwatch:ListMetrics", "*"),
        ("cloudwatch:GetMetricData", "*"),
    ]


def _alarm(env: str) -> str:
    service = f"{APP_NAME}-{env}-Service"
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{service}-MonitoringDbCpuHigh60905B62-x3"


def _smoke_statements(apps: dict[str, Synthesized], env: str) -> list[dict[str, Any]]:
    role = _role(apps[env], SMOKE_ROLE[env])
    resolver = Environment(
        account=ACCOUNT,
        region=REGION,
        stack_id=_stack_arn(f"{APP_NAME}-{env}-Service"),
        physical=_physical(env),
    )
    (policy,) = role["Policies"]
    statements: list[dict[str, Any]] = resolver.resolve(policy["PolicyDocument"]["Statement"])
    return statements


@pytest.mark.parametrize("env", [SMALL, LARGE])
def test_a_smoke_role_allows_every_smoke_call_of_its_environment(
    apps: dict[str, Synthesized], env: str
) -> None:
    statements = _smoke_statements(apps, env)
    for action, resource in _smoke_calls(env):
        assert allowed(statements, action=action, resource=resource, context={}), (action, resource)


@pytest.mark.parametrize(("env", "other"), [(SMALL, LARGE), (LARGE, SMALL)])
def test_a_smoke_role_reaches_nothing_of_another_environment(
    apps: dict[str, Synthesized], env: str, other: str
) -> None:
    statements = _smoke_statements(apps, env)
    reached = [
        (action, resource)
        for action, resource in _smoke_calls(other)
        if resource != "*" and allowed(statements, action=action, resource=resource, context={})
    ]
    assert reached == []
    # nor any other function, route or stack of its own environment than the smoke check's
    service = f"{APP_NAME}-{env}-Service"
    api_fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{service}-FunctionsApi45DE0CE2-x2"
    post = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:api{env}/$default/POST/orders"
    for action, resource in [("lambda:InvokeFunction", api_fn), ("execute-api:Invoke", post)]:
        assert not allowed(statements, action=action, resource=resource, context={})


@pytest.mark.parametrize("env", [SMALL, LARGE])
def test_only_the_environments_deploy_role_may_assume_its_smoke_role(
    apps: dict[str, Synthesized], env: str
) -> None:
    role = _role(apps[env], SMOKE_ROLE[env])
    statements = Environment(account=ACCOUNT).resolve(role["AssumeRolePolicyDocument"]["Statement"])
    callers = [_arn(DEPLOY_ROLE[SMALL]), _arn(DEPLOY_ROLE[LARGE]), _arn(DIFF_ROLE)]
    admitted = [
        caller
        for caller in callers
        if allowed(
            statements,
            principal=Principal(arn=caller),
            action="sts:AssumeRole",
            context={"aws:PrincipalArn": caller},
        )
    ]
    assert admitted == [_arn(DEPLOY_ROLE[env])]
    assert role["MaxSessionDuration"] == 3600


def test_the_smoke_role_exists_only_where_ci_deploys(
    synthesized: dict[str, Synthesized],
) -> None:
    # GIVEN a `ci` section that deploys only the large environment
    built = build_from_context(_context(environments=[FIXTURE_CI["environments"][1]]), SMALL)
    synth = synthesize(built)
    # THEN the small app still holds the CI access stack, but small gets no smoke role
    assert built.ci is not None
    names = {
        r["Properties"].get("RoleName")
        for r in synth.service.find_resources("AWS::IAM::Role").values()
    }
    assert SMOKE_ROLE[SMALL] not in names
    # and without a `ci` section there is no CI access stack at all
    assert synthesized[SMALL].built.ci is None


def test_the_smoke_role_carries_only_its_four_acknowledgments(
    apps: dict[str, Synthesized],
) -> None:
    acks = {
        rule: reason
        for (_tier, path, rule), reason in nag_acknowledgments(apps[SMALL]).items()
        if path.startswith("SmokeAccess")
    }
    assert set(acks) == {
        "AwsSolutions-IAM5[Resource::*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:"
        "<AWS::AccountId>:stack/Fixture-small-Data/*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:"
        "<AWS::AccountId>:stack/<AWS::StackName>/*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:"
        "<AWS::AccountId>:<ApiHttpApi4C294DC0>/$default/GET/customers/*/orders]",
    }
    assert len(acks) == 4
    assert all("compensating control" in reason for reason in acks.values())
    ci_paths = [key for key in nag_acknowledgments(apps[SMALL]) if key[0] == "CiAccess"]
    assert ci_paths == []  # the CI access stack passes cdk-nag with no acknowledgment


@pytest.mark.parametrize("env", [SMALL, LARGE])
def test_an_instance_smoke_role_reads_nothing_of_rds(
    apps: dict[str, Synthesized], env: str
) -> None:
    for statement in _smoke_statements(apps, env):
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert not [a for a in actions if a.startswith("rds:")], actions


def test_an_aurora_smoke_role_adds_only_the_unnamed_rds_acknowledgments() -> None:
    """The cluster checks' reads (their calls: tests/ops/test_ci_scripts.py) need two wildcard
    ARNs, each acknowledged on the role; the cluster, proxy and target group are exact."""
    context = {
        **aurora_context(reader_count=1, proxy={"read_only_endpoint": True}),
        "ci": copy.deepcopy(FIXTURE_CI),
        QUALIFIER_CONTEXT_KEY: QUALIFIER,
    }
    synth = synthesize(build_from_context(context, SMALL))  # cdk-nag runs here
    acks = {
        key: reason
        for key, reason in nag_acknowledgments(synth).items()
        if key[1].startswith("SmokeAccess")
    }
    assert set(acks) == smoke_acks(f"{APP_NAME}-{SMALL}-Data", aurora=True)
    assert len(acks) == 6
    assert all("compensating control" in reason for reason in acks.values())
