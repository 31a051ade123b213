"""The CI scripts: the workflows' plan (ops.ci_matrix), the stack names make deploy/diff/destroy
use (ops.stack_names), make ci-access (ops.ci_access) and the PR diff comment (ops.pr_comment);
and that the smoke role's actions are exactly what a smoke run calls (on Aurora, also that the
synthesized role allows each recorded RDS call on the resources RDS authorizes it on)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

import stacks.loader
from ops import ci_access, ci_matrix, pr_comment, stack_names
from ops.ci_access import Caller
from stacks.app_builder import build_from_context
from stacks.aws_facts import RDS_DESCRIBE_RESOURCE_TYPES, RDS_DESCRIBE_UNNAMED_RESOURCE, rds_arn
from stacks.components.smoke_access import (
    AURORA_SMOKE_ACTIONS,
    SMOKE_ACTIONS,
    SMOKE_ROUTE,
    route_pattern,
)
from stacks.loader import CDK_JSON, read_context
from stacks.outputs import CLUSTER_READ_ACTIONS
from tests.fixture_config import (
    APP_NAME,
    FIXTURE_CI,
    LARGE,
    SMALL,
    fixture_ci_context,
    fixture_context,
)
from tests.infra.iam_eval import Environment, allowed
from tests.ops.alarm_stubs import add_all_found
from tests.ops.aws_stubs import ACCOUNT, PROXY_NAME, REGION, Stubbed, add_stacks
from tests.ops.cluster_stubs import AURORA_CONTEXT, CLUSTER_ID, Cluster, add_cluster
from tests.ops.test_cluster_checks import add_smoke_run
from tests.ops.test_smoke_script import FakeHttp, add_direct_calls, add_metrics, add_migration, run

pytestmark = pytest.mark.ops

ROOT = Path(__file__).resolve().parents[2]
# Deploy order reversed from the fixture's: the plan must keep cdk.json's order.
REVERSED = [FIXTURE_CI["environments"][1], FIXTURE_CI["environments"][0]]


def ci_context(**overrides: Any) -> dict[str, Any]:
    return fixture_ci_context(**{"environments": REVERSED, **overrides})


def _outputs(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.strip().splitlines())


# --- ops.ci_matrix ----------------------------------------------------------------------------


def test_the_plan_lists_the_ci_environments_in_order_with_their_stacks_and_roles(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert ci_matrix.main([], context=ci_context()) == 0
    out = _outputs(capsys.readouterr().out)
    assert (out["account"], out["region"], out["branch"]) == (
        "444455556666",
        "eu-central-1",
        "release",
    )
    assert out["diff_role_arn"] == "arn:aws:iam::444455556666:role/Fixture-ci-diff"
    assert json.loads(out["environments"]) == [
        {
            "env": "large",
            "github_environment": "production-gh",
            "stacks": "Fixture-large-Data Fixture-large-Service",
            "deploy_role_arn": "arn:aws:iam::444455556666:role/Fixture-ci-deploy-large",
            "smoke_role_arn": "arn:aws:iam::444455556666:role/Fixture-ci-smoke-large",
        },
        {
            "env": "small",
            "github_environment": "staging-gh",
            "stacks": "Fixture-small-Data Fixture-small-Service",
            "deploy_role_arn": "arn:aws:iam::444455556666:role/Fixture-ci-deploy-small",
            "smoke_role_arn": "arn:aws:iam::444455556666:role/Fixture-ci-smoke-small",
        },
    ]
    assert f"{APP_NAME}-CiAccess" not in json.dumps(out)  # never a stack a workflow selects


@pytest.mark.parametrize(
    ("context", "says"),
    [
        (fixture_context(), "no `ci` section"),
        (ci_context(repository="no-slash"), "ci.repository: value 'no-slash' not allowed"),
        (
            ci_context(environments=[{"env": "qa", "github_environment": "qa"}]),
            "ci.environments.env: value 'qa' not allowed; allowed: small, large",
        ),
    ],
    ids=["no ci section", "bad repository", "unknown environment"],
)
def test_the_plan_fails_with_one_line(
    capsys: pytest.CaptureFixture[str], context: dict[str, Any], says: str
) -> None:
    assert ci_matrix.main([], context=context) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert says in line


# --- ops.stack_names (make deploy / diff / destroy) ---------------------------------------------


def test_stack_names_are_the_environments_own(capsys: pytest.CaptureFixture[str]) -> None:
    assert stack_names.main(["--env", LARGE]) == 0
    assert capsys.readouterr().out == "Fixture-large-Data Fixture-large-Service\n"
    assert stack_names.main([]) == 0  # the default environment
    assert capsys.readouterr().out == "Fixture-small-Data Fixture-small-Service\n"
    assert stack_names.main(["--env", "qa"]) == 2
    assert "'qa' is not a key" in capsys.readouterr().err


# --- ops.ci_access (make ci-access) -------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append((argv, kwargs))
        return subprocess.CompletedProcess(argv, 3)


def _caller(account: str, arn: str) -> Any:
    return lambda region, profile: Caller(account, arn, region)


def test_ci_access_deploys_the_ci_stack_and_nothing_else(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_ = Recorder()
    user = "arn:aws:iam::444455556666:user/admin"
    code = ci_access.main([], context=ci_context(), caller=_caller("444455556666", user), run=run_)
    assert code == 3  # the CDK CLI's exit status
    ((argv, kwargs),) = run_.calls
    assert argv == [str(ROOT / "node_modules/.bin/cdk"), "deploy", "Fixture-CiAccess"]
    assert kwargs["env"]["AWS_REGION"] == "eu-central-1"
    assert "Fixture-CiAccess for fixture-org/fixture-repo into account 444455556666" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("account", "arn", "says"),
    [
        ("111122223333", "arn:aws:iam::111122223333:user/admin", "ci.account is 444455556666"),
        (
            "444455556666",
            "arn:aws:sts::444455556666:assumed-role/Fixture-ci-deploy-small/GitHubActions",
            "is a CI role of this stack",
        ),
    ],
    ids=["another account", "a CI role"],
)
def test_ci_access_refuses_the_wrong_identity(
    capsys: pytest.CaptureFixture[str], account: str, arn: str, says: str
) -> None:
    run_ = Recorder()
    assert ci_access.main([], context=ci_context(), caller=_caller(account, arn), run=run_) == 2
    assert run_.calls == []
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert says in line


def test_ci_access_without_credentials_stops_before_the_cdk_cli(
    aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run_ = Recorder()
    assert ci_access.main([], context=ci_context(), run=run_) == 2
    assert run_.calls == []
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: no AWS credentials found")


def test_make_ci_access_command_without_credentials_is_one_line(tmp_path: Path) -> None:
    """What `make ci-access` runs, as a process, with the shipped cdk.json and no credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PYTHONPATH"}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    result = subprocess.run(
        [sys.executable, "-m", "ops.ci_access"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    has_ci = "ci" in read_context(CDK_JSON)  # a fork may have dropped the section
    assert line.startswith("error: no AWS credentials found" if has_ci else "error: cdk.json has")


# --- ops.pr_comment -----------------------------------------------------------------------------


def test_the_comment_holds_every_environment_in_order_and_says_it_is_approximate() -> None:
    body = pr_comment.render({"small": "[~] AWS::Lambda::Function Fn", "large": None}, "https://r")
    assert body.splitlines()[0] == pr_comment.MARKER
    assert "replacement information is approximate" in body
    assert body.index("<b>small</b>") < body.index("**large**: no diff")
    assert "[~] AWS::Lambda::Function Fn" in body
    assert "Run: https://r" in body


def test_a_huge_diff_is_cut_to_what_github_accepts() -> None:
    body = pr_comment.render({"small": "x" * 200_000, "large": "y" * 10})
    assert len(body) <= 65_536
    assert pr_comment.CUT in body
    assert "y" * 10 in body


def test_the_comment_reads_one_file_per_environment(tmp_path: Path) -> None:
    (tmp_path / "small.txt").write_text("Stack Fixture-small-Data\nThere were no differences\n")
    assert pr_comment.read_diffs(tmp_path, ["small", "large"]) == {
        "small": "Stack Fixture-small-Data\nThere were no differences\n",
        "large": None,
    }


# --- the smoke role allows what a smoke run calls, no more ------------------------------------


@pytest.fixture
def recorded(stubbed: Stubbed) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """(IAM action, request parameters) of every AWS call the stubbed clients make."""
    names = {("lambda", "Invoke"): "lambda:InvokeFunction"}
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        key = (model.service_model.service_name, model.name)
        seen.append((names.get(key, f"{key[0]}:{key[1]}"), dict(params)))

    clients = stubbed.clients
    watched = (clients.cloudformation, clients.lambda_, clients.cloudwatch, clients.rds)
    for client in watched:
        assert client is not None
        client.meta.events.register("before-parameter-build", record)
    yield seen
    for client in watched:
        assert client is not None
        client.meta.events.unregister("before-parameter-build", record)


def test_the_smoke_role_actions_are_exactly_what_a_smoke_run_calls(
    stubbed: Stubbed, recorded: list[tuple[str, dict[str, Any]]]
) -> None:
    add_stacks(stubbed.cloudformation)
    add_migration(stubbed)
    add_direct_calls(stubbed)
    add_metrics(stubbed)
    add_all_found(stubbed.cloudformation, stubbed.cloudwatch)
    http = FakeHttp()
    assert run(stubbed, http) == 0
    # the API call: execute-api:Invoke on the route the smoke role names
    (request,) = http.requests
    method, path = request.get_method(), "/" + request.full_url.split("/", 3)[3]
    assert (method, path.split("/")[1::2]) == (SMOKE_ROUTE.method, ["customers", "orders"])
    assert route_pattern(SMOKE_ROUTE) == "/customers/*/orders"
    assert {a for a, _ in recorded} | {"execute-api:Invoke"} == set(SMOKE_ACTIONS)


# Proxies of the account by name -> (resource id, its target group's resource id): how RDS
# identifies them in ARNs (the calls name them by name). The first is the stubbed Aurora
# environment's; the other belongs to someone else.
PROXIES = {
    PROXY_NAME: ("prx-0a1b2c3d4e5f60718", "prx-tg-0f1e2d3c4b5a69788"),
    "anotherproxy": ("prx-0ffffffffffffffff", "prx-tg-0eeeeeeeeeeeeeeee"),
}


def _request_resources(action: str, params: dict[str, Any]) -> list[str]:
    """The ARNs RDS authorizes a call on: one per resource type the action requires
    (aws_facts.RDS_DESCRIBE_RESOURCE_TYPES), the named resource or the type's unnamed ARN."""
    proxy, target_group = PROXIES.get(params.get("DBProxyName", ""), (None, None))
    named = {
        "cluster": params.get("DBClusterIdentifier"),
        "db": params.get("DBInstanceIdentifier"),
        "proxy": proxy,
        "target-group": target_group if params.get("TargetGroupName") else None,
        "proxy-endpoint": params.get("DBProxyEndpointName"),
    }
    return [
        rds_arn(
            kind,
            partition="aws",
            region=REGION,
            account=ACCOUNT,
            name=named[kind] or RDS_DESCRIBE_UNNAMED_RESOURCE.value,
        )
        for kind in RDS_DESCRIBE_RESOURCE_TYPES.value[action]
    ]


def _physical(kind: str, name: str, attribute: str) -> str:
    """The Aurora data stack's exports as CloudFormation resolves them for the stubbed
    environment; anything else (functions, API, alarms) is not asked about here."""
    arn = {"partition": "aws", "region": REGION, "account": ACCOUNT}
    if kind == "ImportValue" and "RefDatabaseCluster" in name:
        return CLUSTER_ID
    proxy, target_group = PROXIES[PROXY_NAME]
    if kind == "ImportValue" and "DBProxyArn" in name:
        return rds_arn("proxy", name=proxy, **arn)
    if kind == "ImportValue" and "TargetGroupArn" in name:
        return rds_arn("target-group", name=target_group, **arn)
    return f"not-asked:{kind}:{name}:{attribute}"


@pytest.fixture(scope="module")
def aurora_smoke_statements() -> list[dict[str, Any]]:
    """The smoke role's policy of the stubbed Aurora environment, synthesized with a `ci`
    section that deploys it (cdk-nag runs), references resolved as for that environment."""
    context = {**copy.deepcopy(AURORA_CONTEXT), "ci": copy.deepcopy(FIXTURE_CI)}
    service = Template.from_stack(build_from_context(context, SMALL).service)
    (role,) = [
        r["Properties"]
        for r in service.find_resources("AWS::IAM::Role").values()
        if r["Properties"].get("RoleName") == f"{APP_NAME}-ci-smoke-{SMALL}"
    ]
    (policy,) = role["Policies"]
    resolver = Environment(account=ACCOUNT, region=REGION, physical=_physical)
    statements: list[dict[str, Any]] = resolver.resolve(policy["PolicyDocument"]["Statement"])
    return statements


def test_the_aurora_smoke_role_allows_each_recorded_cluster_read_on_its_resources(
    stubbed: Stubbed,
    recorded: list[tuple[str, dict[str, Any]]],
    aurora_smoke_statements: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stacks.loader, "read_context", lambda cdk_json=None: AURORA_CONTEXT)
    add_smoke_run(stubbed, lambda rds: add_cluster(rds, Cluster()))
    assert run(stubbed, FakeHttp()) == 0
    stubbed.assert_done()
    assert {a for a, _ in recorded} | {"execute-api:Invoke"} == set(AURORA_SMOKE_ACTIONS)
    reads = [(a, p) for a, p in recorded if a in CLUSTER_READ_ACTIONS]
    assert {a for a, _ in reads} == set(CLUSTER_READ_ACTIONS)
    for action, params in reads:
        for resource in _request_resources(action, params):
            assert allowed(aurora_smoke_statements, action=action, resource=resource, context={}), (
                action,
                resource,
            )
    # the named resources are this environment's only: another cluster, proxy or target group
    # of the account is refused
    for action, params in reads:
        other = {
            **params,
            **(
                {"DBClusterIdentifier": "another-cluster"}
                if "DBClusterIdentifier" in params
                else {}
            ),
            **({"DBProxyName": "anotherproxy"} if "DBProxyName" in params else {}),
        }
        if other == params:
            continue  # names nothing (the instances of a cluster filter)
        refused = [
            r
            for r in _request_resources(action, other)
            if not allowed(aurora_smoke_statements, action=action, resource=r, context={})
        ]
        assert refused, (action, other)


def test_only_the_aurora_smoke_role_reads_rds() -> None:
    assert not any(a.startswith("rds:") for a in SMOKE_ACTIONS)
    assert set(AURORA_SMOKE_ACTIONS) - set(SMOKE_ACTIONS) == set(CLUSTER_READ_ACTIONS)
