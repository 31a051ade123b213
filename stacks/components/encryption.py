"""Customer-managed KMS key for the data tier."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct


class DataKey(Construct):
    """One CMK for database storage, Performance Insights and the database secrets.

    Secure defaults: yearly automatic rotation, the removal policy of the database it protects
    (a destroyed key makes retained snapshots unreadable, so prod keeps it).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, app_name: str, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=f"{app_name} data tier: RDS storage, Performance Insights, DB secrets",
            enable_key_rotation=True,
            removal_policy=(
                RemovalPolicy.DESTROY
                if removal_policy == RemovalPolicy.DESTROY
                else RemovalPolicy.RETAIN
            ),
            pending_window=None,
        )
