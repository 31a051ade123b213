"""Just enough of IAM policy evaluation to test policies the way AWS reads them: resource and
trust policies (a service, an OIDC provider or an account as principal) and identity policies.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# A template reference CloudFormation resolves at deploy time: ("Ref", logical id, ""),
# ("GetAtt", logical id, attribute) or ("ImportValue", export name, "") -> its value.
Physical = Callable[[str, str, str], str]


@dataclass(frozen=True)
class Environment:
    """Values CloudFormation substitutes for the pseudo parameters."""

    partition: str = "aws"
    region: str = "eu-west-1"
    account: str = "111122223333"
    stack_id: str = ""
    # None: references other than the pseudo parameters stay as they are in the template.
    physical: Physical | None = None

    def _pseudo(self) -> dict[str, str]:
        return {
            "AWS::Partition": self.partition,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": self.stack_id,
            "AWS::StackName": self.stack_id.split("/")[1] if "/" in self.stack_id else "",
        }

    def _reference(self, value: Mapping[str, Any]) -> Any:
        """A Ref / Fn::GetAtt / Fn::ImportValue's value, or None when it is none of these."""
        pseudo, physical = self._pseudo(), self.physical
        (key, arg), *_ = value.items()
        if key == "Ref" and arg in pseudo:
            return pseudo[arg]
        if physical is None or key not in ("Ref", "Fn::GetAtt", "Fn::ImportValue"):
            return None
        name, attribute = arg if key == "Fn::GetAtt" else (arg, "")
        return physical(key.removeprefix("Fn::"), name, attribute)

    def resolve(self, value: Any) -> Any:
        """A template value with Ref (pseudo parameters; others, Fn::GetAtt and Fn::ImportValue
        through `physical`), Fn::Sub and Fn::Join resolved."""
        if isinstance(value, dict) and len(value) == 1:
            found = self._reference(value)
            if found is not None:
                return found
        if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
            return re.sub(
                r"\$\{([^}]+)\}",
                lambda m: str(self.resolve({"Ref": m.group(1)})),
                value["Fn::Sub"],
            )
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
    "ArnEquals": lambda pattern, value: pattern == value,
    "StringLike": _glob,
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


@dataclass(frozen=True)
class Principal:
    """Who asks: a service, a federated (OIDC) provider, or an IAM role or user ARN."""

    service: str = ""
    federated: str = ""
    arn: str = ""

    def matches(self, statement: Mapping[str, Any]) -> bool:
        principal = statement.get("Principal", {})
        if principal in ("*", {"AWS": "*"}):
            return True
        if self.service:
            return self.service in _as_list(principal.get("Service", []))
        if self.federated:
            return self.federated in _as_list(principal.get("Federated", []))
        # An account principal (arn:...:root) stands for every principal of that account.
        account_root = re.sub(r":(role|user)/.*$", ":root", self.arn)
        return any(p in (self.arn, account_root) for p in _as_list(principal.get("AWS", [])))


def _applies(
    statement: Mapping[str, Any],
    asking: Principal | None,
    action: str,
    resource: str,
    context: Mapping[str, str],
) -> bool:
    return (
        (asking is None or asking.matches(statement))
        and any(_glob(a, action) for a in _as_list(statement["Action"]))
        and any(_glob(r, resource) for r in _as_list(statement.get("Resource", "*")))
        and conditions_hold(statement.get("Condition", {}), context)
    )


def allowed(
    statements: list[dict[str, Any]],
    *,
    action: str,
    resource: str = "*",
    context: Mapping[str, str],
    service: str = "",
    principal: Principal | None = None,
) -> bool:
    """Explicit deny wins, then any allow; otherwise implicitly denied. Without a principal
    (and without `service`), statements are read as an identity policy (no Principal)."""
    asking = principal or (Principal(service=service) if service else None)
    verdict = False
    for statement in statements:
        applies = _applies(statement, asking, action, resource, context)
        if applies and statement["Effect"] == "Deny":
            return False
        verdict = verdict or (applies and statement["Effect"] == "Allow")
    return verdict


def explicitly_denied(
    statements: list[dict[str, Any]],
    *,
    action: str,
    resource: str = "*",
    context: Mapping[str, str],
    principal: Principal,
) -> bool:
    """A Deny statement applies to the request, whatever else would allow it."""
    return any(
        statement["Effect"] == "Deny" and _applies(statement, principal, action, resource, context)
        for statement in statements
    )
