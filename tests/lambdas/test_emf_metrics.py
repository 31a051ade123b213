"""The metrics the handlers emit are the ones the alarms read: same name and dimension set.

The alarm on handled failures (stacks/components/monitoring.py) watches ServerErrors under
{service, entrypoint}; a handler that emitted it under another dimension set would leave the
alarm watching a metric that never exists. These tests parse the EMF the handlers print and
check it against stacks/metric_catalog.py.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

from orders import contract, observability, runtime
from orders.db import Database
from orders.handlers import api, direct
from stacks import metric_catalog as mc
from tests.lambdas.fakes import FakeTokenProvider, db_settings
from tests.lambdas.test_handlers import CTX, AlwaysFailingFactory, create_event


@pytest.fixture
def unreachable_db() -> AlwaysFailingFactory:
    factory = AlwaysFailingFactory()
    runtime.set_database(Database(db_settings(), FakeTokenProvider(), factory))
    return factory


def _emf(out: str) -> list[dict[str, Any]]:
    """Every EMF document printed (one JSON object per line with an _aws key)."""
    docs = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            docs.append(json.loads(line))
    return docs


def _metric_uses(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric name, dimensions) for every metric of one EMF document."""
    uses = []
    for directive in doc["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            dims = {name: doc[name] for name in dimension_set}
            for metric in directive["Metrics"]:
                uses.append((directive["Namespace"], metric["Name"], dims))
    return uses


def _server_errors(out: str) -> list[tuple[str, str, dict[str, str]]]:
    return [
        use
        for doc in _emf(out)
        for use in _metric_uses(doc)
        if use[1] == contract.SERVER_ERRORS_METRIC
    ]


@pytest.mark.parametrize(
    ("handler", "event", "entrypoint"),
    [
        (
            direct.handler,
            {
                "action": contract.GET_ORDER_ACTION,
                "order_id": "3f2b8c1e-0d4a-4e8b-9c7d-2a1b3c4d5e6f",
            },
            contract.DIRECT,
        ),
        (api.handler, create_event(), contract.API),
    ],
    ids=["direct", "api"],
)
def test_a_handled_outage_emits_server_errors_as_the_alarm_reads_it(
    unreachable_db: AlwaysFailingFactory,
    capsys: pytest.CaptureFixture[str],
    handler: Any,
    event: dict[str, Any],
    entrypoint: str,
) -> None:
    # GIVEN a database that cannot be reached: the handler answers 503 and does not raise
    response = handler(event, CTX)
    assert response["statusCode"] == 503
    # THEN it emitted ServerErrors under {service, entrypoint}, a dimension set the catalog allows
    ((namespace, _, dims),) = _server_errors(capsys.readouterr().out)
    # (namespace and service are read from POWERTOOLS_* when orders.observability is imported)
    assert namespace == observability.metrics.namespace
    assert dims == {
        "service": observability.metrics.service,
        contract.ENTRYPOINT_DIMENSION: entrypoint,
    }
    mc.check(namespace, contract.SERVER_ERRORS_METRIC, dims, "Sum", service_namespace=namespace)


def test_each_invocation_carries_its_own_entrypoint(
    unreachable_db: AlwaysFailingFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    # Powertools Metrics instances share state: the tag is set per invocation, not per import.
    direct.handler(
        {
            "action": contract.LIST_ORDERS_ACTION,
            "customer_id": "3f2b8c1e-0d4a-4e8b-9c7d-2a1b3c4d5e6f",
        },
        CTX,
    )
    api.handler(create_event(), CTX)
    direct.handler(
        {"action": contract.GET_ORDER_ACTION, "order_id": "3f2b8c1e-0d4a-4e8b-9c7d-2a1b3c4d5e6f"},
        CTX,
    )
    tags = [
        dims[contract.ENTRYPOINT_DIMENSION]
        for _, _, dims in _server_errors(capsys.readouterr().out)
    ]
    assert tags == [contract.DIRECT, contract.API, contract.DIRECT]


def test_the_check_refuses_the_metric_without_its_entrypoint() -> None:
    with pytest.raises(mc.CatalogError, match="not published under service"):
        mc.check(
            "NS", contract.SERVER_ERRORS_METRIC, {"service": "s"}, "Sum", service_namespace="NS"
        )


def test_warm_invocations_of_one_handler_set_the_tag_once(
    unreachable_db: AlwaysFailingFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    # What one function sees in Lambda: the same handler again and again, no warning per call.
    event = {
        "action": contract.GET_ORDER_ACTION,
        "order_id": "3f2b8c1e-0d4a-4e8b-9c7d-2a1b3c4d5e6f",
    }
    direct.handler(event, CTX)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            assert direct.handler(event, CTX)["statusCode"] == 503
    assert len(_server_errors(capsys.readouterr().out)) == 4
