"""RDS Proxy in front of the database: IAM auth required, TLS required, pool caps from config."""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, Duration, Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.components.aurora import AuroraDatabase
from stacks.components.database import Database
from stacks.config import ProxyConfig

# The database behind the proxy: an RDS instance or an Aurora cluster.
ProxiedDatabase = Database | AuroraDatabase


class Proxy(Construct):
    """RDS Proxy for PostgreSQL.

    Creates: a managed policy granting rds-db:connect through this proxy as the app user
    (attached to the app functions), a security group (egress only to the database on its
    port, plus HTTPS to the Secrets Manager endpoint in secrets mode), the proxy role, and the
    proxy in the data subnets with IAM auth REQUIRED, TLS required, debug logging off and the
    pool caps from config. Login to the database:
    - `auth_mode: iam` (default): end-to-end IAM (DefaultAuthScheme IAM_AUTH), no app secret;
      the proxy role holds rds-db:connect on dbuser:<DbiResourceId or DbClusterResourceId>/<app
      user> only.
    - `read_only_endpoint`: a second proxy endpoint (TargetRole READ_ONLY, the proxy's security
      group and subnets) whose connections go to the Aurora readers.
    - `auth_mode: secrets`: an app-user secret (CMK) that the proxy reads, rotated every 30
      days by the AWS-hosted PostgreSQL single-user rotation function; clients still need IAM.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        database: ProxiedDatabase,
        key: kms.IKey,
        config: ProxyConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        database_security_group, port = database.security_group, database.port
        self.app_db_user = config.app_db_user
        self.port = port
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="RDS Proxy: ingress from app functions, egress to PostgreSQL only",
            allow_all_outbound=False,
        )
        # DatabaseProxy itself adds proxy -> database on the instance port (ingress on the
        # database group, egress on this one); nothing else may leave this group.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("rds.amazonaws.com"),
            description="RDS Proxy: logs in to PostgreSQL as the app user",
        )
        self.app_user_secret: secretsmanager.ISecret | None = None
        # Secrets mode only: the schedule that rotates the app-user secret (at once when created).
        self.rotation_schedule: secretsmanager.RotationSchedule | None = None
        if config.auth_mode == "iam":
            self._grant_iam_login(database.login_resource_id, config.app_db_user)
        else:
            self.app_user_secret = self._rotated_app_secret(
                target=database.secret_target,
                vpc=vpc,
                subnets=subnets,
                database_security_group=database_security_group,
                port=port,
                key=key,
                app_db_user=config.app_db_user,
            )
        self.proxy = self._proxy(database, vpc, subnets, config)
        # Its Create and Update wait until the target can be logged in to (the data stack
        # orders it after the app-user bootstrap).
        self.target_group = _target_group(self.proxy)
        self.connect_policy = self._client_connect_policy(config.app_db_user)
        # Aurora with readers: a second endpoint whose connections go to the readers.
        self.read_only_endpoint: rds.IDatabaseProxyEndpoint | None = None
        if config.read_only_endpoint:
            self.read_only_endpoint = self.proxy.add_endpoint(
                "ReadOnlyEndpoint",
                vpc=vpc,
                vpc_subnets=subnets,
                security_groups=[self.security_group],  # its default is the VPC's default group
                target_role=rds.ProxyEndpointTargetRole.READ_ONLY,
            )

    def _proxy(
        self,
        database: ProxiedDatabase,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        config: ProxyConfig,
    ) -> rds.DatabaseProxy:
        proxy = rds.DatabaseProxy(
            self,
            "Proxy",
            proxy_target=database.proxy_target,
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
        for dependency in database.waits_for:
            proxy.node.add_dependency(dependency)
        return proxy

    def _grant_iam_login(self, login_resource_id: str, app_db_user: str) -> None:
        """End-to-end IAM: the proxy signs in as the app user with its own role."""
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["rds-db:connect"],
                resources=[_dbuser_arn(self, login_resource_id, app_db_user)],
            )
        )

    def _rotated_app_secret(
        self,
        *,
        target: secretsmanager.ISecretAttachmentTarget,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        database_security_group: ec2.ISecurityGroup,
        port: int,
        key: kms.IKey,
        app_db_user: str,
    ) -> secretsmanager.ISecret:
        """Secrets mode: the app user's password in a CMK secret, rotated every 30 days."""
        secret = secretsmanager.Secret(
            self,
            "AppUserSecret",
            description=f"Password of {app_db_user}, read by RDS Proxy (secrets mode)",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"username": app_db_user}),
                generate_string_key="password",
                exclude_punctuation=True,
                password_length=32,
            ),
        )
        # Single-user rotation with the AWS-hosted PostgreSQL rotation function: it logs in
        # as the app user directly, so it needs the database port and the SM endpoint.
        self.rotation_security_group = ec2.SecurityGroup(
            self,
            "RotationSecurityGroup",
            vpc=vpc,
            description="App-user secret rotation: to PostgreSQL and Secrets Manager only",
            allow_all_outbound=False,
        )
        self.rotation_security_group.connections.allow_to(
            database_security_group, ec2.Port.tcp(port), "rotation to PostgreSQL"
        )
        # The hosted rotation function reads engine, host and port from the secret itself
        # (aws_facts.HOSTED_ROTATION_SECRET_KEYS); the attachment merges them in.
        attached = secret.attach(target)
        self.rotation_schedule = attached.add_rotation_schedule(
            "Rotation",
            automatically_after=Duration.days(30),
            hosted_rotation=secretsmanager.HostedRotation.postgre_sql_single_user(
                vpc=vpc,
                vpc_subnets=subnets,
                security_groups=[self.rotation_security_group],
                exclude_characters=_PUNCTUATION,
            ),
        )
        return secret

    def _client_connect_policy(self, app_db_user: str) -> iam.ManagedPolicy:
        """What `proxy.grant_connect(fn, user)` would add to each function, as one managed policy
        owned by this stack: the ARN split happens here, not across stacks (cfn-lint E1022 on
        Fn::Split over an imported value), and the consumers only reference its ARN."""
        proxy_resource_id = Fn.select(6, Fn.split(":", self.proxy.db_proxy_arn))
        return iam.ManagedPolicy(
            self,
            "ConnectPolicy",
            description=f"rds-db:connect through the proxy as {app_db_user} only",
            statements=[
                iam.PolicyStatement(
                    actions=["rds-db:connect"],
                    resources=[_dbuser_arn(self, proxy_resource_id, app_db_user)],
                )
            ],
        )


def _target_group(proxy: rds.DatabaseProxy) -> rds.CfnDBProxyTargetGroup:
    """The proxy's one target group (the L2 creates it; its ARN is what RDS authorizes
    DescribeDBProxyTargets on)."""
    group = proxy.node.find_child("ProxyTargetGroup")
    assert isinstance(group, rds.CfnDBProxyTargetGroup)  # noqa: S101  # the L2's own child
    return group


def _dbuser_arn(scope: Construct, resource_id: str, db_user: str) -> str:
    """The rds-db:connect resource: `dbuser:db-<DbiResourceId>/<user>` for an instance or
    `dbuser:cluster-<DbClusterResourceId>/<user>` for an Aurora cluster (the proxy's own login in
    end-to-end IAM; aws_facts.RDS_DBUSER_CLUSTER_ARN), or `dbuser:prx-<id>/<user>` for the
    proxy (clients)."""
    return Stack.of(scope).format_arn(
        service="rds-db",
        resource="dbuser",
        resource_name=f"{resource_id}/{db_user}",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


# exclude_punctuation=True in the generator; rotation must generate the same alphabet.
_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
