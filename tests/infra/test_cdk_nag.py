"""cdk-nag AwsSolutions gate: no unacknowledged findings; every acknowledgment accounted for."""

from __future__ import annotations

import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Template
from infra_support import Synthesized, build_fixture

from stacks.config import AppConfig
from tests.fixture_config import SMALL

pytestmark = pytest.mark.infra

# (stack suffix, construct path) of every function role: the app functions live in the
# service stack, the migration function in the data stack (it bootstraps the app user there).
_FN_ROLES = (
    ("Service", "Functions/Api"),
    ("Service", "Functions/Direct"),
    ("Data", "Migration/Function"),
)
_MANAGED = "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/{}]"
_BASIC = _MANAGED.format("AWSLambdaBasicExecutionRole")
_VPC = _MANAGED.format("AWSLambdaVPCAccessExecutionRole")
_LOG_RETENTION = "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a/ServiceRole"

# (stack suffix, construct path below the stack, rule id). The README (docs/infra.md) lists these.
COMMON_ACKS = {
    ("Data", _LOG_RETENTION, _BASIC),
    ("Data", f"{_LOG_RETENTION}/DefaultPolicy", "AwsSolutions-IAM5[Resource::*]"),
    ("Data", "Migration/Provider/framework-onEvent/ServiceRole", _BASIC),
    (
        "Data",
        "Migration/Provider/framework-onEvent/ServiceRole/DefaultPolicy",
        "AwsSolutions-IAM5[Resource::<MigrationFunction6E05CD6E.Arn>:*]",
    ),
    *{(stack, f"{fn}/ServiceRole", rule) for stack, fn in _FN_ROLES for rule in (_BASIC, _VPC)},
}


def expected_acks(config: AppConfig) -> set[tuple[str, str, str]]:
    """The acknowledgments a configuration must produce, and only those."""
    acks = set(COMMON_ACKS)
    if config.functions.tracing:  # X-Ray's write actions support no resource ARNs
        acks |= {
            (stack, f"{fn}/ServiceRole/DefaultPolicy", "AwsSolutions-IAM5[Resource::*]")
            for stack, fn in _FN_ROLES
        }
    # The database: an instance, or an Aurora cluster (RDS3, Multi-AZ, is an instance rule:
    # a cluster's standby is a reader, and cdk-nag skips Aurora for it).
    db = "Database/Cluster" if config.database.is_aurora else "Database/Instance"
    acks.add(("Data", db, "AwsSolutions-RDS11"))
    if not config.database.is_aurora and not config.database.multi_az:
        acks.add(("Data", db, "AwsSolutions-RDS3"))
    if config.database.monitoring_interval_s and not config.database.is_aurora:
        acks.add(
            (
                "Data",
                "Database/Instance/MonitoringRole",
                _MANAGED.format("AmazonRDSEnhancedMonitoringRole"),
            )
        )
    if not config.database.deletion_protection:
        acks.add(("Data", db, "AwsSolutions-RDS10"))
    return acks


def smoke_acks(data_stack_name: str, *, aurora: bool = False) -> set[tuple[str, str, str]]:
    """What an environment that cdk.json `ci` deploys adds: its smoke role's four resources,
    and on Aurora the instances and proxy endpoints its cluster checks cannot name."""
    resource = "AwsSolutions-IAM5[Resource::{}]"
    arn = "arn:<AWS::Partition>:{}:<AWS::Region>:<AWS::AccountId>:{}"
    cluster_reads = {
        ("Service", "SmokeAccess/Role", resource.format(arn.format("rds", f"{kind}:*")))
        for kind in ("db", "db-proxy-endpoint")
    }
    return (cluster_reads if aurora else set()) | {
        ("Service", "SmokeAccess/Role", resource.format("*")),
        *(
            (
                "Service",
                "SmokeAccess/Role",
                resource.format(arn.format("cloudformation", f"stack/{name}/*")),
            )
            for name in (data_stack_name, "<AWS::StackName>")
        ),
        (
            "Service",
            "SmokeAccess/Role",
            resource.format(
                arn.format("execute-api", "<ApiHttpApi4C294DC0>/$default/GET/customers/*/orders")
            ),
        ),
    }


def nag_acknowledgments(synth: Synthesized) -> dict[tuple[str, str, str], str]:
    """(stack suffix, path, rule) -> reason for every cdk-nag acknowledgment in the app."""
    found: dict[tuple[str, str, str], str] = {}
    for (construct_path, rule), reason in synth.acknowledgments.items():
        if not rule.startswith("Annotation::AwsSolutions-"):
            continue  # CDK's own CloudFormation-Validate acknowledgments, the Control Tower gate's
        stack, _, path = construct_path.partition("/")
        tier = stack.rsplit("-", 1)[1]
        found[(tier, path, rule.removeprefix("Annotation::"))] = reason
    return found


def test_synth_passes_the_gate_with_only_the_listed_acknowledgments(synth: Synthesized) -> None:
    # `synth` exists only because Template.from_stack ran cdk-nag without findings.
    assert set(nag_acknowledgments(synth)) == expected_acks(synth.built.config)


def test_every_cdk_json_environment_passes_the_gate(shipped: Synthesized) -> None:
    config = shipped.built.config
    expected = expected_acks(config)
    if hasattr(shipped.built.service, "smoke_access"):  # cdk.json `ci` deploys it
        expected |= smoke_acks(config.data_stack_name, aurora=config.database.is_aurora)
    assert set(nag_acknowledgments(shipped)) == expected
    for ack, reason in nag_acknowledgments(shipped).items():
        assert "compensating control" in reason, ack


def test_every_acknowledgment_names_a_compensating_control(synth: Synthesized) -> None:
    for ack, reason in nag_acknowledgments(synth).items():
        assert "compensating control" in reason, ack
        assert len(reason) > 80, ack


def test_acknowledgments_are_not_stack_wide(synth: Synthesized) -> None:
    for stack, path, rule in nag_acknowledgments(synth):
        assert path.count("/") >= 1, (stack, path, rule)


def test_secrets_mode_passes_the_gate(secrets_mode: Synthesized) -> None:
    acks = nag_acknowledgments(secrets_mode)
    assert not any("SMG4" in rule for _, _, rule in acks), "app secret must rotate or be listed"
    assert secrets_mode.data.find_resources("AWS::SecretsManager::Secret")


def test_gate_fails_synth_on_a_new_finding() -> None:
    built = build_fixture(SMALL)
    sg = ec2.SecurityGroup(built.data, "Wide", vpc=built.data.network.vpc)
    sg.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(22))
    with pytest.raises(RuntimeError, match=r"ValidationFailed(.|\n)*AwsSolutions-EC23"):
        Template.from_stack(built.data)
