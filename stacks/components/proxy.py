"""RDS Proxy in front of the database: IAM auth required, TLS required, pool caps from config."""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.config import ProxyConfig


class Proxy(Construct):
    """RDS Proxy for PostgreSQL.

    Creates: a security group (egress only to the database on its port, plus HTTPS to the
    Secrets Manager endpoint in secrets mode), the proxy role, and the proxy in the data
    subnets with IAM auth REQUIRED, TLS required, debug logging off and the pool caps from
    config. Login to the database:
    - `auth_mode: iam` (default): end-to-end IAM (DefaultAuthScheme IAM_AUTH), no app secret;
      the proxy role holds rds-db:connect on dbuser:<DbiResourceId>/<app user> only.
    - `auth_mode: secrets`: an app-user secret (CMK) that the proxy reads; clients still need
      IAM auth.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        instance: rds.DatabaseInstance,
        database_security_group: ec2.ISecurityGroup,
        port: int,
        key: kms.IKey,
        config: ProxyConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        self.app_db_user = config.app_db_user
        self.port = port
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="RDS Proxy: ingress from app functions, egress to PostgreSQL only",
            allow_all_outbound=False,
        )
        database_security_group.add_ingress_rule(
            self.security_group, ec2.Port.tcp(port), "RDS Proxy to PostgreSQL"
        )
        self.security_group.add_egress_rule(
            database_security_group, ec2.Port.tcp(port), "RDS Proxy to PostgreSQL"
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("rds.amazonaws.com"),
            description="RDS Proxy: logs in to PostgreSQL as the app user",
        )
        self.app_user_secret: secretsmanager.ISecret | None = None
        if config.auth_mode == "iam":
            # End-to-end IAM: the proxy signs in as the app user with its own role.
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["rds-db:connect"],
                    resources=[
                        Stack.of(self).format_arn(
                            service="rds-db",
                            resource="dbuser",
                            resource_name=f"{instance.instance_resource_id}/{config.app_db_user}",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                )
            )
        else:
            self.app_user_secret = secretsmanager.Secret(
                self,
                "AppUserSecret",
                description=f"Password of {config.app_db_user}, read by RDS Proxy (secrets mode)",
                encryption_key=key,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template=json.dumps({"username": config.app_db_user}),
                    generate_string_key="password",
                    exclude_punctuation=True,
                    password_length=32,
                ),
            )
        self.proxy = rds.DatabaseProxy(
            self,
            "Proxy",
            proxy_target=rds.ProxyTarget.from_instance(instance),
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            role=self.role,
            iam_auth=True,
            require_tls=True,
            debug_logging=False,
            default_auth_scheme=(
                rds.DefaultAuthScheme.IAM_AUTH if config.auth_mode == "iam" else None
            ),
            secrets=[self.app_user_secret] if self.app_user_secret is not None else None,
            max_connections_percent=config.max_connections_percent,
            max_idle_connections_percent=config.max_idle_connections_percent,
            borrow_timeout=Duration.seconds(config.borrow_timeout_s),
            idle_client_timeout=Duration.seconds(config.idle_client_timeout_s),
        )
        self.proxy.node.add_dependency(instance)
