"""Synth-gate acknowledgments (cdk-nag, Control Tower controls), each on the narrowest scope."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

from stacks.control_tower import CONTROLS_BY_ID


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding (`RuleId` or `RuleId[Finding]`) on `scope` and below."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def acknowledge_control(scope: IConstruct, control_id: str, reason: str) -> None:
    """Acknowledge a Control Tower control (`CT.RDS.PR.2`) on `scope` and below.

    The reason says why the resource does not meet the control and what compensates; it is
    printed in docs/infra.md's controls table.
    """
    control = CONTROLS_BY_ID[control_id]
    Validations.of(scope).acknowledge(Acknowledgment(id=control.acknowledgment_id, reason=reason))
