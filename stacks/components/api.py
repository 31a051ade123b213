"""HTTP API in front of the orders function: IAM authorization, access logs, throttling."""

from __future__ import annotations

import json

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from orders.contract import ROUTES
from stacks.components.logs import LogsKey, log_group
from stacks.components.nag import acknowledge_control
from stacks.config import ApiConfig

# What HttpLambdaIntegration names the invoke permission it adds under each route.
_INVOKE_PERMISSION = "Orders-Permission"

_ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.identity.caller",
        "user": "$context.identity.user",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
        "errorMessage": "$context.error.message",
    },
    separators=(",", ":"),
)


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """IAccessLogSettings is a jsii interface, not a struct: implement it."""

    def __init__(
        self, destination: apigwv2.IAccessLogDestination, log_format: apigw.AccessLogFormat
    ) -> None:
        self._destination = destination
        self._format = log_format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


class Api(Construct):
    """HTTP API for the orders function.

    Creates: an HTTP API whose routes all require IAM (SigV4) authorization, a Lambda proxy
    integration (payload v2) with the configured integration timeout, and a `$default` stage
    with throttling and JSON access logs to a log group with retention (encrypted with the
    stack's logs key).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        logs_key: LogsKey,
        config: ApiConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            description="Orders API (IAM authorization) -> Lambda -> RDS Proxy -> PostgreSQL",
            create_default_stage=False,
            default_authorizer=authorizers.HttpIamAuthorizer(),
        )
        integration = integrations.HttpLambdaIntegration(
            "Orders",
            handler,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
            timeout=Duration.seconds(config.integration_timeout_s),
        )
        # The routes the function's resolver serves (orders.contract, declared once).
        for route in ROUTES:
            for added in self.http_api.add_routes(
                path=route.path, methods=[apigwv2.HttpMethod(route.method)], integration=integration
            ):
                _acknowledge_invoke_permission(added)
        self.access_log_group = log_group(
            self,
            "AccessLogs",
            key=logs_key,
            retention_days=config.access_log_retention_days,
            retention_key="api.access_log_retention_days",
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=config.throttle_rate_limit, burst_limit=config.throttle_burst_limit
            ),
            access_log_settings=_AccessLogSettings(
                apigwv2.LogGroupLogDestination(self.access_log_group),
                apigw.AccessLogFormat.custom(_ACCESS_LOG_FORMAT),
            ),
        )
        self.url = self.stage.url


def _acknowledge_invoke_permission(route: apigwv2.HttpRoute) -> None:
    acknowledge_control(
        route.node.find_child(_INVOKE_PERMISSION),
        "CT.LAMBDA.PR.2",
        "API Gateway's invoke permission is scoped by SourceArn to this API and route, written "
        "as an Fn::Join of the partition, region, account and API id, which the rule does not "
        "resolve; compensating control: a test asserts every such permission names this API's "
        "execute-api ARN for its route (tests/infra/test_control_tower.py), and every route "
        "requires IAM authorization.",
    )
