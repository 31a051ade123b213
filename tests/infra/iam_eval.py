"""Just enough of IAM policy evaluation to test resource policies the way AWS reads them.

ArnLike, per the IAM condition-operator reference
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
"Case-sensitive matching of the ARN. Each of the six colon-delimited components of the ARN is
checked separately and each can include multi-character match wildcards (*) or single-character
match wildcards (?)." The sixth component is the rest of the ARN, colons included. The
`...IfExists` operators: "If the policy key is present in the context of the request, process the
key as specified in the policy. If the key is not present, evaluate the condition element as
true" (same page).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Environment:
    """Values CloudFormation substitutes for the pseudo parameters."""

    partition: str = "aws"
    region: str = "eu-west-1"
    account: str = "111122223333"

    def resolve(self, value: Any) -> Any:
        """A template value with Ref (pseudo parameters) and Fn::Join resolved."""
        pseudo = {
            "AWS::Partition": self.partition,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in pseudo:
            return pseudo[value["Ref"]]
        if isinstance(value, dict) and set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(self.resolve(p)) for p in parts)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value


def _glob(pattern: str, value: str) -> bool:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def arn_like(pattern: str, value: str) -> bool:
    """IAM ArnLike: six colon-delimited components, each matched with * and ?."""
    parts, values = pattern.split(":", 5), value.split(":", 5)
    if len(parts) != 6 or len(values) != 6:
        return False
    return all(_glob(p, v) for p, v in zip(parts, values, strict=True))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_OPERATORS = {
    "StringEquals": lambda pattern, value: pattern == value,
    "ArnLike": arn_like,
    "Bool": lambda pattern, value: str(pattern).lower() == str(value).lower(),
}


def conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    """Every operator and key must hold; a key absent from the request makes it false (true
    for an ...IfExists operator)."""
    for operator, keys in conditions.items():
        if_exists = operator.endswith("IfExists")
        test = _OPERATORS[operator.removesuffix("IfExists")]
        for key, patterns in keys.items():
            if key not in context:
                if if_exists:
                    continue
                return False
            if not any(test(p, context[key]) for p in _as_list(patterns)):
                return False
    return True


def _principal_matches(
    statement: Mapping[str, Any], service: str | None, account: str | None
) -> bool:
    """`service`: the caller is that service principal; `account`: an IAM principal of that
    account, which a key policy's `arn:...:root` statement covers (its IAM policy allowing)."""
    principal = statement.get("Principal", {})
    if principal in ("*", {"AWS": "*"}):
        return True
    if service is not None:
        return service in _as_list(principal.get("Service", []))
    return any(
        a == account or str(a).endswith(f":iam::{account}:root")
        for a in _as_list(principal.get("AWS", []))
    )


def _applying(
    statements: list[dict[str, Any]],
    *,
    service: str | None = None,
    account: str | None = None,
    action: str,
    resource: str,
    context: Mapping[str, str],
) -> list[dict[str, Any]]:
    if (service is None) == (account is None):
        raise ValueError("name the caller: a service principal or an account")
    return [
        statement
        for statement in statements
        if _principal_matches(statement, service, account)
        and any(_glob(a, action) for a in _as_list(statement["Action"]))
        and any(_glob(r, resource) for r in _as_list(statement["Resource"]))
        and conditions_hold(statement.get("Condition", {}), context)
    ]


def allowed(
    statements: list[dict[str, Any]],
    *,
    service: str | None = None,
    account: str | None = None,
    action: str,
    resource: str,
    context: Mapping[str, str],
) -> bool:
    """Explicit deny wins, then any allow; otherwise implicitly denied."""
    applying = _applying(
        statements, service=service, account=account, action=action, resource=resource,
        context=context,
    )  # fmt: skip
    effects = {statement["Effect"] for statement in applying}
    return "Deny" not in effects and "Allow" in effects


def explicitly_denied(statements: list[dict[str, Any]], **request: Any) -> bool:
    """A Deny statement applies to the request (keywords as for `allowed`), whatever else would
    allow it."""
    return any(statement["Effect"] == "Deny" for statement in _applying(statements, **request))
