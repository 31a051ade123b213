"""The account checks of `make preflight`: each asks AWS one read-only question and, on a no,
says how to fix it. Every AWS number or format they rely on is a Fact in stacks/aws_facts.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ops.aws import StackState, describe_stack
from ops.cdk_app import BootstrapRequirement
from stacks import outputs as out
from stacks.aws_facts import (
    ALARM_ACTIONS_SAME_REGION,
    AURORA_SERVERLESS_V2_CLASS,
    AURORA_SERVERLESS_V2_VERSION_LIMITS,
    AZ_ZONE_TYPE,
    CDK_DEFAULT_QUALIFIER,
    CFN_CONTINUE_UPDATE_ROLLBACK,
    CFN_ROLLBACK_COMPLETE_ONLY_DELETE,
    GET_AZS_DEFAULT_SUBNETS,
    LAMBDA_CONCURRENCY_QUOTA_CODE,
    RDS_ACCOUNT_QUOTA_NAMES,
    RDS_CLUSTER_QUOTA_NAMES,
    RDS_PROXY_QUOTA,
    RDS_PROXY_QUOTA_CODE,
    RDS_STORAGE_GP3,
    SNS_AWS_MANAGED_KEY,
    VPC_QUOTA,
    VPC_QUOTA_CODE,
    Fact,
    lambda_unreserved_floor,
)
from stacks.budget import SERVERLESS, connection_budget
from stacks.config import AppConfig, DatabaseConfig

if TYPE_CHECKING:
    from types_boto3_cloudformation.client import CloudFormationClient
    from types_boto3_lambda.client import LambdaClient
    from types_boto3_rds.client import RDSClient

PASS, WARN, FAIL = "pass", "warn", "fail"
RDS_PROXY_ENGINES_DOC = (
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/"
    "Concepts.RDS_Fea_Regions_DB-eng.Feature.RDSProxy.html"
)


@dataclass(frozen=True)
class Result:
    """One row of the preflight table."""

    check: str
    status: str
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class PreflightClients:
    """The clients preflight reads with. sts, ssm, ec2, sns and service-quotas have no pinned
    type stubs here: Any; the tests' Stubber checks every call against botocore's models."""

    region: str
    sts: Any
    ssm: Any
    cloudformation: CloudFormationClient
    lambda_: LambdaClient
    rds: RDSClient
    ec2: Any
    sns: Any
    service_quotas: Any


@dataclass(frozen=True)
class Target:
    """The environment to deploy and what of it already exists in the account."""

    config: AppConfig
    region: str
    account: str
    data: StackState | None
    service: StackState | None


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# --- stacks -------------------------------------------------------------------------------------


def _stack_fix(name: str, status: str, region: str) -> str:
    cli = f"aws cloudformation {{}} --stack-name {name} --region {region}"
    if status == CFN_ROLLBACK_COMPLETE_ONLY_DELETE.value:
        return (
            "its first create failed and rolled back; CloudFormation can only delete it: read "
            f"its events for the cause, then {cli.format('delete-stack')} and deploy again"
        )
    if status == CFN_CONTINUE_UPDATE_ROLLBACK.value:
        return (
            f"{cli.format('continue-update-rollback')} (add --resources-to-skip for resources "
            "that cannot roll back), then deploy"
        )
    if status == "UPDATE_FAILED":
        return f"{cli.format('rollback-stack')}, or retry the deploy with --no-rollback"
    if status.endswith("_IN_PROGRESS"):
        return "another operation is running on it: wait until it ends, then rerun preflight"
    if status == "DELETE_FAILED":
        return f"{cli.format('delete-stack')} --retain-resources <what cannot be deleted>"
    return f"read its events, then {cli.format('delete-stack')} and deploy again"


def check_stack(name: str, stack: StackState | None, region: str) -> Result:
    check = f"stack {name}"
    if stack is None:
        return Result(check, PASS, f"not in {region} yet: the deploy creates it")
    if stack.deployable:
        return Result(check, PASS, f"{stack.status}: the deploy updates it")
    if stack.status == "REVIEW_IN_PROGRESS":
        return Result(
            check,
            WARN,
            "REVIEW_IN_PROGRESS: created by a change set that was never executed",
            "the deploy creates and runs its own change set; delete the stack if it is left over",
        )
    detail = f"{stack.status}: a deploy cannot update a stack in this state"
    return Result(check, FAIL, detail, _stack_fix(name, stack.status, region))


# --- CDK bootstrap ------------------------------------------------------------------------------


def _bootstrap_version(ssm: Any, parameter: str) -> str | None:
    try:
        return str(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
    except ClientError as exc:
        if error_code(exc) == "ParameterNotFound":
            return None
        raise


def check_bootstrap(
    clients: PreflightClients, target: Target, need: BootstrapRequirement
) -> Result:
    check = "cdk bootstrap"
    command = f"npx cdk bootstrap aws://{target.account}/{target.region}"
    if need.qualifier != CDK_DEFAULT_QUALIFIER.value:
        command += f" --qualifier {need.qualifier}"
    if need.toolkit_stack != "CDKToolkit":
        command += f" --toolkit-stack-name {need.toolkit_stack}"
    toolkit = describe_stack(clients.cloudformation, need.toolkit_stack)
    if toolkit is not None and not toolkit.deployable:
        stack = check_stack(need.toolkit_stack, toolkit, target.region)
        return Result(check, FAIL, stack.detail, f"{stack.fix}; then {command}")
    raw = _bootstrap_version(clients.ssm, need.parameter)
    if raw is None:
        detail = f"{need.parameter} not found: {target.region} is not bootstrapped"
        return Result(check, FAIL, detail, command)
    if not raw.isdigit() or int(raw) < need.version:
        detail = f"bootstrap version {raw} ({need.parameter}); the app needs >= {need.version}"
        return Result(check, FAIL, detail, f"{command} (updates the bootstrap stack in place)")
    if toolkit is None:
        detail = f"version {raw} found, but no stack {need.toolkit_stack}"
        fix = "set toolkitStackName in cdk.json to the bootstrap stack's name, or bootstrap again"
        return Result(check, WARN, detail, fix)
    detail = f"version {raw} >= {need.version} ({need.parameter}); {toolkit.name} {toolkit.status}"
    return Result(check, PASS, detail)


# --- Lambda -------------------------------------------------------------------------------------


def held_concurrency(cfn: CloudFormationClient, lambda_: LambdaClient, stack: StackState) -> int:
    """Reserved concurrency the stack's functions hold now (it is released when they update)."""
    held = 0
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack.name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] != "AWS::Lambda::Function":
                continue
            name = resource.get("PhysicalResourceId")
            if not name or resource["ResourceStatus"] == "DELETE_COMPLETE":
                continue
            try:
                held += lambda_.get_function_concurrency(FunctionName=name).get(
                    "ReservedConcurrentExecutions", 0
                )
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
    return held


def check_lambda_concurrency(clients: PreflightClients, target: Target) -> Result:
    limits = clients.lambda_.get_account_settings()["AccountLimit"]
    limit = limits.get("ConcurrentExecutions", 0)
    unreserved = limits.get("UnreservedConcurrentExecutions", 0)
    budget = connection_budget(target.config)
    wanted = sum(budget.reserved_concurrency.values())
    held = 0
    if target.service is not None:
        held = held_concurrency(clients.cloudformation, clients.lambda_, target.service)
    floor = lambda_unreserved_floor(limit)
    left = unreserved + held - wanted
    parts = "/".join(str(v) for v in budget.reserved_concurrency.values())
    detail = (
        f"account limit {limit}, unreserved {unreserved}"
        + (f" (this environment holds {held})" if held else "")
        + f"; {target.config.env_name} reserves {wanted} ({parts}: "
        f"{'/'.join(budget.reserved_concurrency)}) -> {left} left unreserved, Lambda keeps >= "
        f"{floor}"
    )
    if left >= floor:
        return Result("lambda concurrency", PASS, detail)
    short = floor - left
    service, code = LAMBDA_CONCURRENCY_QUOTA_CODE.value
    fix = (
        f"raise Lambda 'Concurrent executions' (Service Quotas {service} {code}) to >= "
        f"{limit + short} (an empty account needs {budget.account_concurrency_needed}), or lower "
        f"functions.api_reserved_concurrency + direct_reserved_concurrency by {short}"
    )
    return Result("lambda concurrency", FAIL, detail, fix)


# --- RDS engine and instance class --------------------------------------------------------------


def _engine_name(config: AppConfig) -> str:
    return "Aurora PostgreSQL" if config.database.is_aurora else "PostgreSQL"


def _offered_versions(rds: RDSClient, engine: str, major: str) -> list[str]:
    pages = rds.get_paginator("describe_db_engine_versions").paginate(Engine=engine)
    versions = [v["EngineVersion"] for page in pages for v in page["DBEngineVersions"]]
    return [v for v in versions if v.split(".")[0] == major]


def check_engine_version(clients: PreflightClients, target: Target) -> Result:
    check = "postgres version"
    db, name = target.config.database, _engine_name(target.config)
    version = db.engine_version
    major = version.split(".")[0]
    found = clients.rds.describe_db_engine_versions(Engine=db.engine, EngineVersion=version)[
        "DBEngineVersions"
    ]
    if not found:
        offered = _offered_versions(clients.rds, db.engine, major)
        detail = f"{name} {version} is not offered in {target.region}"
        fix = (
            f"set database.engine_version to one offered here: {', '.join(offered[-6:])}"
            if offered
            else f"no {name} {major}.x in {target.region}: pick another region or major"
        )
        return Result(check, FAIL, detail, f"{fix} (allowed values: stacks/config.py)")
    status = found[0].get("Status", "available")
    if status != "available":
        detail = f"{name} {version} is {status} in {target.region}: new instances may be refused"
        return Result(check, WARN, detail, "move database.engine_version to a newer minor")
    detail = (
        f"{name} {version} offered ({status}); RDS Proxy support per major is not in the "
        f"API: {RDS_PROXY_ENGINES_DOC}"
    )
    return Result(check, PASS, detail)


def _orderable(rds: RDSClient, config: AppConfig, db_class: str) -> Iterator[Any]:
    pages = rds.get_paginator("describe_orderable_db_instance_options").paginate(
        Engine=config.database.engine,
        EngineVersion=config.database.engine_version,
        DBInstanceClass=db_class,
        Vpc=True,
    )
    for page in pages:
        yield from page["OrderableDBInstanceOptions"]


def _zone_problems(
    options: list[Any], config: AppConfig, needed: int
) -> tuple[list[str], list[str]]:
    """(failures, warnings) for the pinned AZs the class is offered in (`needed` of them must
    offer it: 2 for a standby or a reader in another AZ)."""
    pinned = config.network.availability_zones
    if pinned is None:
        return [], []
    offered = {az["Name"] for o in options for az in o.get("AvailabilityZones", [])}
    missing = [az for az in pinned if az not in offered]
    if not missing:
        return [], []
    text = f"not offered in pinned {', '.join(missing)}"
    return ([text], []) if len(pinned) - len(missing) < needed else ([], [text])


def _option_problems(options: list[Any], config: AppConfig) -> tuple[list[str], list[str]]:
    db = config.database
    failures: list[str] = []
    if db.multi_az and not any(o.get("MultiAZCapable") for o in options):
        failures.append("not Multi-AZ capable (database.multi_az is true)")
    if not any(o.get("SupportsIAMDatabaseAuthentication") for o in options):
        failures.append("no IAM database authentication (the proxy and migration use it)")
    if not any(o.get("SupportsPerformanceInsights") for o in options):
        failures.append("no Performance Insights (Database Insights needs it)")
    low = min(o.get("MinStorageSize", 0) for o in options)
    high = max(o.get("MaxStorageSize", 65536) for o in options)
    if not low <= db.allocated_storage_gib <= high:
        failures.append(f"allocated_storage_gib {db.allocated_storage_gib} outside {low}..{high}")
    zone_failures, warnings = _zone_problems(options, config, 2 if db.multi_az else 1)
    return failures + zone_failures, warnings


def check_instance_class(clients: PreflightClients, target: Target) -> Result:
    check = "instance class"
    db = target.config.database
    if db.is_aurora:
        return check_cluster_classes(clients, target)
    name = f"db.{db.instance_class} / PostgreSQL {db.engine_version}"
    options = list(_orderable(clients.rds, target.config, f"db.{db.instance_class}"))
    gp3 = [o for o in options if o.get("StorageType") == RDS_STORAGE_GP3.value]
    fix = (
        "pick a class offered here (aws rds describe-orderable-db-instance-options --engine "
        f"postgres --engine-version {db.engine_version}) and set database.instance_class"
    )
    if not gp3:
        storage = sorted({str(o.get("StorageType")) for o in options})
        offered = f"only with {', '.join(storage)} storage" if storage else "not at all"
        return Result(check, FAIL, f"{name} orderable in a VPC {offered}, gp3 needed", fix)
    failures, warnings = _option_problems(gp3, target.config)
    if failures:
        return Result(check, FAIL, f"{name}: {'; '.join(failures)}", fix)
    if warnings:
        detail = f"{name}: {'; '.join(warnings)}"
        return Result(check, WARN, detail, "pin AZs the class is offered in")
    zones = {az["Name"] for o in gp3 for az in o.get("AvailabilityZones", [])}
    multi = ", Multi-AZ capable" if db.multi_az else ""
    return Result(check, PASS, f"{name} orderable with gp3{multi} in {len(zones)} AZs")


# --- Aurora: the cluster's classes and Serverless v2 capacity ------------------------------------


def _cluster_classes(db: DatabaseConfig) -> dict[str, list[str]]:
    """DBInstanceClass -> the instances that use it (the writer, the readers)."""

    def api_class(name: str) -> str:
        return AURORA_SERVERLESS_V2_CLASS.value if name == SERVERLESS else f"db.{name}"

    roles: dict[str, list[str]] = {api_class(db.instance_class): ["writer"]}
    if db.readers:
        roles.setdefault(api_class(db.readers_class), []).append(f"{db.readers} reader(s)")
    return roles


def _cluster_class_problems(options: list[Any], config: AppConfig) -> tuple[list[str], list[str]]:
    failures = []
    if not any(o.get("SupportsIAMDatabaseAuthentication") for o in options):
        failures.append("no IAM database authentication (the proxy and migration use it)")
    if not any(o.get("SupportsPerformanceInsights") for o in options):
        failures.append("no Performance Insights (Database Insights needs it)")
    # A reader is the failover target: it belongs in another AZ than the writer.
    zone_failures, warnings = _zone_problems(options, config, 2 if config.database.readers else 1)
    return failures + zone_failures, warnings


def check_cluster_classes(clients: PreflightClients, target: Target) -> Result:
    """Aurora: every class the cluster uses (writer, readers; Serverless v2 is db.serverless)
    orderable for the engine version in a VPC, with what the stacks turn on."""
    check = "instance class"
    db = target.config.database
    failures: list[str] = []
    warnings: list[str] = []
    passed: list[str] = []
    for db_class, roles in _cluster_classes(db).items():
        name = f"{db_class} ({' and '.join(roles)}) / Aurora PostgreSQL {db.engine_version}"
        options = list(_orderable(clients.rds, target.config, db_class))
        if not options:
            failures.append(f"{name} not orderable in a VPC in {target.region}")
            continue
        bad, warn = _cluster_class_problems(options, target.config)
        failures += [f"{name}: {problem}" for problem in bad]
        warnings += [f"{name}: {problem}" for problem in warn]
        zones = {az["Name"] for o in options for az in o.get("AvailabilityZones", [])}
        passed.append(f"{name} orderable in {len(zones)} AZs")
    if failures:
        fix = (
            "set database.instance_class (writer) / reader_class (readers) to classes offered "
            f"here ('serverless' is {AURORA_SERVERLESS_V2_CLASS.value}): aws rds "
            f"describe-orderable-db-instance-options --engine {db.engine} --engine-version "
            f"{db.engine_version} --query 'OrderableDBInstanceOptions[].DBInstanceClass'"
        )
        return Result(check, FAIL, "; ".join(failures), fix)
    if warnings:
        return Result(check, WARN, "; ".join(warnings), "pin AZs the classes are offered in")
    return Result(check, PASS, "; ".join(passed))


def check_serverless_capacity(clients: PreflightClients, target: Target) -> Result | None:
    """Aurora Serverless v2: the configured ACU range within what the engine version supports
    (DescribeDBEngineVersions ServerlessV2FeaturesSupport, where the API reports it)."""
    db = target.config.database
    low, high = db.serverless_min_acu, db.serverless_max_acu
    if not db.is_aurora or low is None or high is None:  # no Serverless v2 instance
        return None
    check = "serverless capacity"
    version = f"Aurora PostgreSQL {db.engine_version}"
    field, min_key, max_key = AURORA_SERVERLESS_V2_VERSION_LIMITS.value
    found: list[Mapping[str, Any]] = list(
        clients.rds.describe_db_engine_versions(Engine=db.engine, EngineVersion=db.engine_version)[
            "DBEngineVersions"
        ]
    )
    limits: Mapping[str, float] | None = found[0].get(field) if found else None
    wanted = f"serverless_min_acu..max_acu {low:g}..{high:g}"
    if limits is None or max_key not in limits:
        detail = f"{wanted}: {version} reports no {field}: the range is not checked"
        fix = (
            f"aws rds describe-db-engine-versions --engine {db.engine} --engine-version "
            f"{db.engine_version} --query 'DBEngineVersions[].{field}'"
        )
        return Result(check, WARN, detail, fix)
    lowest, highest = limits.get(min_key, 0.0), limits[max_key]
    problems = [f"serverless_max_acu {high:g} above {highest:g}"] * (high > highest)
    problems += [f"serverless_min_acu {low:g} below {lowest:g}"] * (low < lowest)
    supported = f"the {lowest:g}..{highest:g} ACU {version} supports"
    if problems:
        fix = (
            f"set database.serverless_max_acu <= {highest:g} (max_connections follows it: make "
            "budget) and serverless_min_acu >= "
            f"{lowest:g}, or move database.engine_version to a version with a higher limit"
        )
        return Result(check, FAIL, f"{'; '.join(problems)}: outside {supported}", fix)
    return Result(check, PASS, f"{wanted} within {supported}")


# --- network ------------------------------------------------------------------------------------


def _default_subnet_zones(ec2: Any) -> set[str]:
    filters = [{"Name": GET_AZS_DEFAULT_SUBNETS.value, "Values": ["true"]}]
    pages = ec2.get_paginator("describe_subnets").paginate(Filters=filters)
    return {s["AvailabilityZone"] for page in pages for s in page["Subnets"]}


def check_availability_zones(clients: PreflightClients, target: Target) -> Result:
    check = "availability zones"
    net = target.config.network
    zones = clients.ec2.describe_availability_zones(
        Filters=[{"Name": "zone-type", "Values": [AZ_ZONE_TYPE.value]}]
    )["AvailabilityZones"]
    available = sorted(z["ZoneName"] for z in zones if z.get("State") == "available")
    choose = f"set network.availability_zones to {net.max_azs} of: {', '.join(available)}"
    if len(available) < net.max_azs:
        detail = f"{len(available)} available AZs in {target.region}, max_azs is {net.max_azs}"
        return Result(check, FAIL, detail, "lower network.max_azs or deploy to another region")
    if net.availability_zones is not None:
        missing = [az for az in net.availability_zones if az not in available]
        if missing:
            detail = f"pinned {', '.join(missing)} not available in {target.region}"
            return Result(check, FAIL, detail, choose)
        return Result(check, PASS, f"pinned {', '.join(net.availability_zones)} available")
    defaults = sorted(_default_subnet_zones(clients.ec2))
    if 0 < len(defaults) < net.max_azs:
        detail = (
            f"Fn::GetAZs returns only the {len(defaults)} AZs with a default subnet "
            f"({', '.join(defaults)}): selecting {net.max_azs} of them fails the deploy"
        )
        fix = f"{choose}; or aws ec2 create-default-subnet --availability-zone <AZ>"
        return Result(check, FAIL, detail, fix)
    picks = defaults or available
    detail = f"{len(available)} available; Fn::GetAZs offers {len(picks)} (not pinned)"
    return Result(check, PASS, detail)


# --- quotas -------------------------------------------------------------------------------------


def service_quota(sq: Any, code: Fact[tuple[str, str]], default: Fact[int]) -> tuple[int, str]:
    """The applied quota, or the documented default when Service Quotas cannot be read."""
    service, quota = code.value
    try:
        value = sq.get_service_quota(ServiceCode=service, QuotaCode=quota)["Quota"]["Value"]
    except ClientError as exc:
        return default.value, f"documented default; Service Quotas: {error_code(exc)}"
    return int(value), f"Service Quotas {service} {quota}"


def check_proxy_quota(clients: PreflightClients, target: Target) -> Result:
    check = "rds proxy quota"
    pages = clients.rds.get_paginator("describe_db_proxies").paginate()
    names = [p["DBProxyName"] for page in pages for p in page["DBProxies"]]
    ours = target.data.outputs.get(out.PROXY_NAME) if target.data is not None else None
    if ours is not None and ours in names:
        return Result(check, PASS, f"{ours} exists ({len(names)} in the region): none to create")
    quota, source = service_quota(clients.service_quotas, RDS_PROXY_QUOTA_CODE, RDS_PROXY_QUOTA)
    detail = f"{len(names)} of {quota} proxies in {target.region} ({source})"
    if len(names) < quota:
        return Result(check, PASS, detail)
    service, code = RDS_PROXY_QUOTA_CODE.value
    fix = f"delete an unused proxy, or raise Service Quotas {service} {code}"
    return Result(check, FAIL, f"{detail}: creating this proxy would fail", fix)


def _rds_needs(db: DatabaseConfig) -> dict[str, int]:
    """AccountQuotaName -> how many this environment's data stack creates."""
    instances, subnets, params, storage = RDS_ACCOUNT_QUOTA_NAMES.value
    if not db.is_aurora:
        return {instances: 1, subnets: 1, params: 1, storage: db.allocated_storage_gib or 0}
    # Aurora allocates no storage up front; its parameter group is a cluster parameter group.
    clusters, cluster_params = RDS_CLUSTER_QUOTA_NAMES.value
    return {clusters: 1, instances: 1 + db.readers, subnets: 1, cluster_params: 1}


def check_rds_quotas(clients: PreflightClients, target: Target) -> Result:
    check = "rds quotas"
    if target.data is not None:
        return Result(check, PASS, f"{target.data.name} exists: its instance is counted already")
    reported = {
        q["AccountQuotaName"]: q for q in clients.rds.describe_account_attributes()["AccountQuotas"]
    }
    needs = _rds_needs(target.config.database)
    short = [
        f"{name} {q['Used']} + {need} > {q['Max']}"
        for name, need in needs.items()
        if (q := reported.get(name)) is not None and q["Used"] + need > q["Max"]
    ]
    unknown = [name for name in needs if name not in reported]
    if short:
        fix = "free some, or raise the quota in Service Quotas (service rds)"
        return Result(check, FAIL, f"quota reached: {'; '.join(short)}", fix)
    detail = ", ".join(
        f"{n} {reported[n]['Used']}/{reported[n]['Max']}" for n in needs if n in reported
    )
    if unknown:
        detail += f" (not reported: {', '.join(unknown)})"
    return Result(check, PASS, detail)


def check_vpc_quota(clients: PreflightClients, target: Target) -> Result:
    check = "vpc quota"
    if target.data is not None:
        return Result(check, PASS, f"{target.data.name} exists: its VPC is counted already")
    pages = clients.ec2.get_paginator("describe_vpcs").paginate()
    count = sum(len(page["Vpcs"]) for page in pages)
    quota, source = service_quota(clients.service_quotas, VPC_QUOTA_CODE, VPC_QUOTA)
    detail = f"{count} of {quota} VPCs in {target.region} ({source})"
    if count < quota:
        return Result(check, PASS, detail)
    service, code = VPC_QUOTA_CODE.value
    fix = f"delete an unused VPC, or raise Service Quotas {service} {code}"
    return Result(check, FAIL, f"{detail}: the data stack's VPC would not fit", fix)


# --- alarm topic --------------------------------------------------------------------------------


def _topic_warnings(attributes: dict[str, str], owner: str, account: str) -> list[str]:
    warnings = []
    key = attributes.get("KmsMasterKeyId")
    if key:
        warnings.append(
            f"encrypted with {key}: its key policy must let cloudwatch.amazonaws.com use "
            "kms:Decrypt and kms:GenerateDataKey*"
        )
    if owner != account:
        warnings.append(f"owned by {owner}: its policy must let alarms of {account} publish")
    if attributes.get("SubscriptionsConfirmed", "0") == "0":
        warnings.append("no confirmed subscription: notifications reach nobody")
    return warnings


def check_alarm_topic(clients: PreflightClients, target: Target) -> Result | None:
    arn = target.config.monitoring.alarm_topic_arn
    if arn is None:
        return None
    check = "alarm topic"
    _, _, _, region, owner, _ = arn.split(":", 5)
    if region != target.region:
        detail = f"{arn} is in {region}, the alarms in {target.region}"
        fix = (
            f"use a topic in {target.region}: alarm actions cannot notify another region's "
            f"topic ({ALARM_ACTIONS_SAME_REGION.note})"
        )
        return Result(check, FAIL, detail, fix)
    try:
        attributes = clients.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    except ClientError as exc:
        if error_code(exc) != "NotFound":
            raise
        return Result(check, FAIL, f"{arn} does not exist", "create it or fix alarm_topic_arn")
    if attributes.get("KmsMasterKeyId", "").endswith(SNS_AWS_MANAGED_KEY.value):
        detail = f"{arn} is encrypted with {SNS_AWS_MANAGED_KEY.value}: alarms cannot publish"
        fix = "encrypt it with a customer managed key that cloudwatch.amazonaws.com may use"
        return Result(check, FAIL, detail, fix)
    warnings = _topic_warnings(attributes, owner, target.account)
    if warnings:
        return Result(check, WARN, f"{arn}: {'; '.join(warnings)}", "check it before relying on it")
    return Result(check, PASS, f"{arn} exists, {attributes['SubscriptionsConfirmed']} confirmed")
