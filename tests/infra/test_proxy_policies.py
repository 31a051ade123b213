"""No policy that RDS Proxy's requests are evaluated against uses a global (aws:*) condition key.

RDS Proxy supports no global condition context keys (stacks/aws_facts.py,
RDS_PROXY_UNSUPPORTED_CONDITION_KEY_PREFIX): a statement conditioned on aws:SourceAccount,
aws:SourceArn, aws:SecureTransport, ... may never match for the proxy, and the proxy cannot log in
or clients cannot connect. Checked on the synthesized templates: the proxy role (trust policy,
inline and attached policies), every rds-db:* grant (the client connect policy, the proxy's own
login), statements naming the proxy or its role (key policies), and the resource policies of
the secrets the proxy reads (secrets mode).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from infra_support import Synthesized

from stacks.aws_facts import RDS_PROXY_UNSUPPORTED_CONDITION_KEY_PREFIX

pytestmark = pytest.mark.infra

Templates = Mapping[str, dict[str, Any]]
POLICY_PROPERTIES = ("PolicyDocument", "AssumeRolePolicyDocument", "KeyPolicy", "ResourcePolicy")


@dataclass(frozen=True)
class Statement:
    where: str  # <stack>/<logical id>.<property>[<index>]
    body: dict[str, Any]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _documents(props: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in POLICY_PROPERTIES:
        if key in props:
            yield key, props[key]
    for n, policy in enumerate(props.get("Policies", [])):
        yield f"Policies[{n}]", policy["PolicyDocument"]


@dataclass(frozen=True)
class ProxyIds:
    """Logical ids of the proxy, its role, the managed policies and secrets that role uses."""

    proxy: str
    role: str
    managed_policies: frozenset[str]
    secrets: frozenset[str]

    @classmethod
    def of(cls, templates: Templates) -> ProxyIds:
        ((proxy_id, proxy),) = [
            (lid, r)
            for t in templates.values()
            for lid, r in t["Resources"].items()
            if r["Type"] == "AWS::RDS::DBProxy"
        ]
        props = proxy["Properties"]
        role_id = props["RoleArn"]["Fn::GetAtt"][0]
        (role,) = [t["Resources"][role_id] for t in templates.values() if role_id in t["Resources"]]
        arns = role["Properties"].get("ManagedPolicyArns", [])
        return cls(
            proxy=proxy_id,
            role=role_id,
            managed_policies=frozenset(
                a["Ref"] for a in arns if isinstance(a, dict) and "Ref" in a
            ),
            secrets=frozenset(a["SecretArn"]["Ref"] for a in props.get("Auth", [])),
        )

    def governs(self, logical_id: str, props: Mapping[str, Any]) -> bool:
        """The whole resource is evaluated for the proxy's requests: its role, a policy attached
        to that role, or the resource policy of a secret it reads."""
        return (
            logical_id in {self.role, *self.managed_policies}
            or {"Ref": self.role} in props.get("Roles", [])
            or props.get("SecretId") in [{"Ref": s} for s in self.secrets]
        )

    def concerns(self, statement: Mapping[str, Any]) -> bool:
        """One statement of another document: an rds-db grant (connecting to the proxy, or the
        proxy logging in), or one that names the proxy or its role (e.g. a key policy)."""
        actions = [str(a).lower() for a in _as_list(statement.get("Action", []))]
        text = json.dumps(statement)
        return any(a.startswith("rds-db:") for a in actions) or any(
            i in text for i in (self.proxy, self.role)
        )


def proxy_statements(templates: Templates) -> list[Statement]:
    """Every policy statement of the templates that RDS Proxy's requests are evaluated against."""
    ids = ProxyIds.of(templates)
    found = []
    for stack, template in templates.items():
        for logical_id, resource in template["Resources"].items():
            props = resource.get("Properties", {})
            whole = ids.governs(logical_id, props)
            for key, document in _documents(props):
                for n, statement in enumerate(_as_list(document["Statement"])):
                    if whole or ids.concerns(statement):
                        found.append(Statement(f"{stack}/{logical_id}.{key}[{n}]", statement))
    return found


def global_condition_keys(statements: list[Statement]) -> list[str]:
    """`<where>: <operator> <key>` for every global condition key (condition keys are
    case-insensitive, so AWS:SourceArn counts too)."""
    prefix = RDS_PROXY_UNSUPPORTED_CONDITION_KEY_PREFIX.value
    return [
        f"{s.where}: {operator} {key}"
        for s in statements
        for operator, keys in s.body.get("Condition", {}).items()
        for key in keys
        if key.lower().startswith(prefix)
    ]


def _actions(statements: list[Statement]) -> set[str]:
    return {a for s in statements for a in _as_list(s.body.get("Action", []))}


def test_iam_mode_proxy_policies_use_no_global_condition_key(synth: Synthesized) -> None:
    # GIVEN every statement evaluated for the proxy's requests (end-to-end IAM)
    statements = proxy_statements(synth.templates)
    # the walk reaches the proxy role's trust policy, its rds-db:connect as the app user and
    # the client connect policy (on the proxy's ARN)
    assert {"sts:AssumeRole", "rds-db:connect"} <= _actions(statements)
    ids = ProxyIds.of(synth.templates)
    connects = [s for s in statements if s.body.get("Action") == "rds-db:connect"]
    assert any(ids.proxy in json.dumps(s.body["Resource"]) for s in connects)  # clients
    assert any("DbiResourceId" in json.dumps(s.body["Resource"]) for s in connects)  # proxy
    # THEN none of them carries an aws:* condition key
    assert global_condition_keys(statements) == []


def test_secrets_mode_proxy_policies_use_no_global_condition_key(
    secrets_mode: Synthesized,
) -> None:
    # GIVEN the proxy reading the app user's CMK-encrypted secret
    statements = proxy_statements(secrets_mode.templates)
    # the walk reaches the role's secret and key grants, the key policy statement naming the
    # proxy role and the secret's own resource policy
    assert {
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        "secretsmanager:DeleteSecret",
        "rds-db:connect",
    } <= _actions(statements)
    assert any(".KeyPolicy[" in s.where for s in statements)
    assert any(".ResourcePolicy[" in s.where for s in statements)
    # THEN none of them carries an aws:* condition key (kms:ViaService is a service key)
    assert global_condition_keys(statements) == []


def test_the_walk_finds_a_global_key_on_a_proxy_statement_only(
    synthesized: dict[str, Synthesized],
) -> None:
    # GIVEN the templates with aws:* conditions added to the proxy role's policy and to the
    # client connect policy (what a "confused deputy" hardening pass would add)
    templates = copy.deepcopy(next(iter(synthesized.values())).templates)
    ids = ProxyIds.of(templates)
    added = []
    for stack, template in templates.items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                continue
            (statement, *_) = resource["Properties"]["PolicyDocument"]["Statement"]
            if ids.concerns(statement):
                statement["Condition"] = {"StringEquals": {"AWS:SourceAccount": "111122223333"}}
                added.append(
                    f"{stack}/{logical_id}.PolicyDocument[0]: StringEquals AWS:SourceAccount"
                )
    assert len(added) == 2
    # THEN the check names both, and not the alarm topic policy's aws:* keys (no proxy there)
    assert sorted(global_condition_keys(proxy_statements(templates))) == sorted(added)
