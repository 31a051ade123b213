"""VPC with isolated subnets, flow logs and only the interface endpoints the design needs."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from stacks.components.logs import LogsKey, log_group
from stacks.components.nag import acknowledge_control
from stacks.config import NetworkConfig

# The stack-level provider CDK adds for `restrict_default_security_group`.
_RESTRICT_DEFAULT_SG_PROVIDER = "Custom::VpcRestrictDefaultSGCustomResourceProvider"

_ENDPOINT_SERVICES = {
    "secretsmanager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "xray": ec2.InterfaceVpcEndpointAwsService.XRAY,
}


class Network(Construct):
    """VPC for the database, proxy and functions.

    Creates: a VPC over `max_azs` AZs with isolated subnets ("Data" for database and proxy,
    "App" for functions), optional public + NAT egress subnets when `nat_gateways > 0`, VPC flow
    logs (ALL traffic) to a log group with retention (encrypted with the stack's logs key), the
    default security group stripped of its rules, and one interface endpoint per entry in
    `interface_endpoints`, each with its own security group that admits nobody until a
    consumer calls `allow_endpoint_from` (no CIDR-wide ingress).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: NetworkConfig,
        logs_key: LogsKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        subnets, self.app_subnet_type = _subnet_layout(config.nat_gateways)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(config.vpc_cidr),
            max_azs=config.max_azs,
            nat_gateways=config.nat_gateways,
            subnet_configuration=subnets,
            restrict_default_security_group=True,
        )
        self.data_subnets = ec2.SubnetSelection(subnet_group_name="Data")
        self.app_subnets = ec2.SubnetSelection(subnet_group_name="App")
        self._acknowledge_restrict_default_sg()
        self.flow_log_group = log_group(
            self,
            "FlowLogGroup",
            key=logs_key,
            retention_days=config.flow_log_retention_days,
            retention_key="network.flow_log_retention_days",
            removal_policy=removal_policy,
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        self.endpoints = {name: self._endpoint(name) for name in config.interface_endpoints}

    def _acknowledge_restrict_default_sg(self) -> None:
        provider = Stack.of(self).node.find_child(_RESTRICT_DEFAULT_SG_PROVIDER)
        acknowledge_control(
            provider.node.find_child("Handler"),
            "CT.LAMBDA.PR.3",
            "CDK's custom resource that strips the default security group's rules runs outside "
            "the VPC: it calls the EC2 API during deployments, the subnets are isolated (no NAT, "
            "no EC2 endpoint) and CDK offers no VPC placement for it; compensating control: only "
            "CloudFormation invokes it, and its role may only revoke rules of this VPC's default "
            "security group.",
        )

    def _endpoint(self, name: str) -> ec2.InterfaceVpcEndpoint:
        """An interface endpoint in the App subnets whose security group admits nobody yet."""
        sg = ec2.SecurityGroup(
            self,
            f"{name.capitalize()}EndpointSg",
            vpc=self.vpc,
            description=f"Interface endpoint {name}: ingress only from named consumers",
            allow_all_outbound=False,
        )
        return self.vpc.add_interface_endpoint(
            f"{name.capitalize()}Endpoint",
            service=_ENDPOINT_SERVICES[name],
            subnets=self.app_subnets,
            security_groups=[sg],
            open=False,
            private_dns_enabled=True,
        )

    def endpoint_security_groups(self, name: str) -> list[ec2.ISecurityGroup]:
        """The security groups of the `name` endpoint (none if this network has no such one);
        within the stack, the rules `allow_endpoint_from` opens live under them."""
        endpoint = self.endpoints.get(name)
        return [] if endpoint is None else list(endpoint.connections.security_groups)

    def allow_endpoint_from(self, name: str, peer: ec2.IConnectable) -> None:
        """Open HTTPS from `peer` to the `name` endpoint, if this network has one.

        Driven from the peer's side so that, across stacks, both rules live in the peer's
        (dependent) stack and the data stack never references the service stack.
        """
        endpoint = self.endpoints.get(name)
        if endpoint is not None:
            peer.connections.allow_to_default_port(endpoint, f"to {name} endpoint")


def _subnet_layout(nat_gateways: int) -> tuple[list[ec2.SubnetConfiguration], ec2.SubnetType]:
    """Data subnets are always isolated; App subnets get NAT egress only when there is a NAT."""
    data = ec2.SubnetConfiguration(
        name="Data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
    )
    if nat_gateways == 0:
        app = ec2.SubnetConfiguration(
            name="App", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22
        )
        return [data, app], ec2.SubnetType.PRIVATE_ISOLATED
    public = ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
    app = ec2.SubnetConfiguration(
        name="App", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
    )
    return [data, public, app], ec2.SubnetType.PRIVATE_WITH_EGRESS
