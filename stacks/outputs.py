"""Stack output keys: the contract between the stacks and the ops scripts, spelled once.

The stacks create a CfnOutput under each key; ops/ reads them back from DescribeStacks. A key is
the output's logical ID in the template, so renaming one is a deliberate change of contract
(a stack deployed before the rename lacks the new key until it is redeployed).
"""

from __future__ import annotations

# PgProxy-<env>-Data
PROXY_ENDPOINT = "ProxyEndpoint"
PROXY_NAME = "ProxyName"
DB_INSTANCE_IDENTIFIER = "DbInstanceIdentifier"
# Aurora only: the cluster instead of the instance, and the read-only proxy endpoint.
DB_CLUSTER_IDENTIFIER = "DbClusterIdentifier"
PROXY_READ_ONLY_ENDPOINT = "ProxyReadOnlyEndpoint"
MIGRATION_FUNCTION_NAME = "MigrationFunctionName"

# PgProxy-<env>-Service
API_URL = "ApiUrl"
DIRECT_FUNCTION_NAME = "DirectFunctionName"
API_FUNCTION_NAME = "ApiFunctionName"
ALARM_TOPIC_ARN = "AlarmTopicArn"
DASHBOARD_URL = "DashboardUrl"

DATA_OUTPUTS = (PROXY_ENDPOINT, PROXY_NAME, DB_INSTANCE_IDENTIFIER, MIGRATION_FUNCTION_NAME)
# An Aurora data stack (PROXY_READ_ONLY_ENDPOINT too when proxy.read_only_endpoint is set).
CLUSTER_DATA_OUTPUTS = (PROXY_ENDPOINT, PROXY_NAME, DB_CLUSTER_IDENTIFIER, MIGRATION_FUNCTION_NAME)
SERVICE_OUTPUTS = (
    API_URL,
    DIRECT_FUNCTION_NAME,
    API_FUNCTION_NAME,
    ALARM_TOPIC_ARN,
    DASHBOARD_URL,
)

# The IAM actions ops/cluster_checks.py (cluster_rows) calls on an Aurora environment: the CI smoke
# role of one holds them (stacks/components/smoke_access.py), smoke's warning names them when
# they are denied.
CLUSTER_READ_ACTIONS = (
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "rds:DescribeDBProxyTargets",
    "rds:DescribeDBProxyEndpoints",
)
