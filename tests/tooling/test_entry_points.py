"""Every command the Makefile runs starts in a plain interpreter, as `make` starts it.

The functions' package (orders) is installed editable into the environment by `make setup`
(pyproject.toml), and nothing edits the import path: these run each command the way the Makefile
does, without PYTHONPATH, and check that no code puts a directory on the path by hand.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CDK_VALIDATION_ENV

ROOT = Path(__file__).resolve().parents[2]
# Where a path edit would hide: every Python file of the project, tests included.
CHECKED = ("app.py", "stacks", "lambda_src", "ops", "bench", "localpg", "tools", "tests")

COMMANDS = [
    # (argv after `python -m`, acceptable exit codes)
    (["stacks.budget_report"], {0}),  # make budget
    (["stacks.config_doc", "--check"], {0}),  # make docs (check mode)
    (["ops.preflight", "--offline"], {0, 1}),  # make preflight / deploy's offline checks
    (["ops.smoke", "--help"], {0}),
    (["ops.burst", "--help"], {0}),
    (["ops.diagnose", "--help"], {0}),
    (["bench", "--help"], {0}),
    (["bench.drill", "--help"], {0}),
    (["tools.lambda_lock"], {0}),  # make lint's Lambda lock check
    (["ops.stack_names"], {0}),  # make deploy / diff / destroy
    (["ops.ci_matrix"], {0, 2}),  # the workflows' plan (2: no `ci` section)
    (["ops.ci_access", "--help"], {0}),  # make ci-access
    (["ops.pr_comment", "--help"], {0}),  # the PR diff comment
]


@pytest.mark.parametrize(("argv", "codes"), COMMANDS, ids=[c[0][0] for c in COMMANDS])
def test_make_commands_start_without_pythonpath(argv: list[str], codes: set[int]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    result = subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode in codes, (
        result.returncode,
        result.stdout[-1000:],
        result.stderr[-1000:],
    )


@pytest.mark.parametrize("module", ["ops.stack_names", "ops.ci_matrix"])
def test_what_make_deploy_and_the_workflows_run_first_starts_without_boto3(module: str) -> None:
    # ops.stack_names runs before each `make deploy/diff/destroy`, ops.ci_matrix first in each
    # workflow: neither calls AWS, so neither pays boto3's import (ops.cli, not ops.aws).
    code = f"import sys, {module}; print(sorted({{'boto3', 'botocore'}} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr


# aws-cdk-lib's built-in validation plugin, by the name its reports carry
# (core/lib/validation/cloudformation-validate-plugin: PLUGIN_NAME).
CDK_BUILTIN_VALIDATION = "CloudFormation Validate"


def builtin_validation_findings(report: dict[str, Any]) -> list[str]:
    """Rule and construct path of each unacknowledged finding of CDK's built-in validation."""
    return [
        f"{violation['ruleName']} {construct.get('constructPath')}"
        for plugin in report.get("pluginReports", [])
        if plugin.get("pluginName") == CDK_BUILTIN_VALIDATION
        for violation in plugin.get("violations", [])
        for construct in violation.get("violatingConstructs") or [{}]
    ]


def validated_key(body: bytes) -> str:
    """The cache key under which a template CDK's built-in validation found clean is remembered:
    its exact content and the aws-cdk-lib version, which carries the rules."""
    digest = hashlib.sha256(metadata.version("aws-cdk-lib").encode() + b"\n" + body)
    return f"cdk-validation/{digest.hexdigest()}"


def _run_app_py(
    outdir: Path, context: dict[str, Any] | None, *, validation: bool = False
) -> subprocess.CompletedProcess[str]:
    """app.py as `cdk synth` runs it (cdk.json "app": "python app.py"): the CLI passes the context
    (None: none, as when app.py is run by hand), no PYTHONPATH; with `validation`, CDK's default,
    its built-in validation on."""
    dropped = ("PYTHONPATH", "PYTEST_ADDOPTS", CDK_VALIDATION_ENV, "CDK_CONTEXT_JSON")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["CDK_OUTDIR"] = str(outdir)
    if context is not None:
        env["CDK_CONTEXT_JSON"] = json.dumps(context)
    if not validation:
        env[CDK_VALIDATION_ENV] = "false"
    return subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


def _app_py(outdir: Path, *, validation: bool) -> list[Path]:
    """The templates app.py writes with cdk.json's context."""
    from stacks.loader import read_context  # noqa: PLC0415

    context = {**read_context(), "aws:cdk:bundling-stacks": []}
    result = _run_app_py(outdir, context, validation=validation)
    assert result.returncode == 0, result.stderr[-2000:]
    templates = sorted(outdir.glob("*.template.json"))
    assert templates
    return templates


def test_app_py_synthesizes_without_pythonpath(tmp_path: Path, cache: pytest.Cache | None) -> None:
    # CDK's built-in CloudFormation validation, which the rest of the suite turns off
    # (tests/conftest.py), checks these templates too. Its findings are warnings, so a finding
    # would not fail the synth: the report is read instead. Like cfn-lint's, its clean verdict is
    # kept in pytest's cache for the exact template and aws-cdk-lib version: an unchanged
    # template is not validated again (that synth costs about 6 CPU-seconds more than the plain
    # one), a changed one always is, and a fresh checkout (CI) validates them all.
    templates = _app_py(tmp_path / "plain", validation=False)
    bodies = {t.name: t.read_bytes() for t in templates}
    if cache is not None and all(
        cache.get(validated_key(body), None) == "clean" for body in bodies.values()
    ):
        return
    validated = _app_py(tmp_path / "validated", validation=True)
    assert {t.name: t.read_bytes() for t in validated} == bodies
    report = json.loads((tmp_path / "validated" / "validation-report.json").read_text())
    assert builtin_validation_findings(report) == []
    if cache is not None:
        for body in bodies.values():
            cache.set(validated_key(body), "clean")


def test_a_configuration_problem_is_one_line_per_problem_not_a_traceback(tmp_path: Path) -> None:
    from stacks.loader import ENVIRONMENTS_CONTEXT_KEY, default_env, read_context  # noqa: PLC0415

    context = read_context()
    env = default_env(context)
    environment = context[ENVIRONMENTS_CONTEXT_KEY][env]
    environment.setdefault("proxy", {})["max_connections_percent"] = 150
    environment.setdefault("functions", {})["memory_mb"] = "big"
    result = _run_app_py(tmp_path, context)
    assert (result.returncode, result.stdout) == (2, "")
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert all(line.startswith(f"error: environments.{env}.") for line in lines), lines
    assert any(
        "proxy.max_connections_percent: value 150 out of range; allowed 1..100" in line
        for line in lines
    ), lines
    assert any(".functions.memory_mb: " in line for line in lines), lines


def test_without_the_clis_context_app_py_says_where_it_runs(tmp_path: Path) -> None:
    result = _run_app_py(tmp_path, None)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "error: no cdk.json context: app.py runs under the CDK CLI (make synth, cdk synth),"
        " which passes it"
    )


def test_a_clean_verdict_is_kept_for_the_exact_template_and_aws_cdk_lib_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = validated_key(b'{"Resources": {}}')
    assert validated_key(b'{"Resources": {}}') == key
    assert validated_key(b'{"Resources": {} }') != key  # any byte of the template
    monkeypatch.setattr(metadata, "version", lambda name: "2.999.0")  # another aws-cdk-lib
    assert validated_key(b'{"Resources": {}}') != key


def test_builtin_validation_findings_are_read_from_the_report() -> None:
    # The shape aws-cdk-lib writes (validation-report.json), with a finding of the built-in
    # plugin beside another plugin's: only the built-in one's count.
    report = {
        "pluginReports": [
            {
                "pluginName": CDK_BUILTIN_VALIDATION,
                "violations": [
                    {
                        "ruleName": "E3002",
                        "violatingConstructs": [{"constructPath": "S/Topic/Resource"}],
                    }
                ],
            },
            {"pluginName": "Construct Annotations", "violations": [{"ruleName": "x"}]},
        ]
    }
    assert builtin_validation_findings(report) == ["E3002 S/Topic/Resource"]
    assert builtin_validation_findings({"pluginReports": []}) == []


def test_orders_is_this_checkouts_package_installed_editable() -> None:
    # make setup installs it from pyproject.toml; a venv set up from another checkout (or before
    # the install existed) would import other code, or none, outside pytest.
    import orders  # noqa: PLC0415

    project = metadata.distribution("rds-proxy-serverless-reference")
    assert "orders" in (project.read_text("top_level.txt") or "").split()
    assert Path(orders.__file__).resolve().parent == ROOT / "lambda_src" / "orders"


def path_edits(source: str, name: str) -> list[str]:
    """`name:line` of every `sys.path` use and every PYTHONPATH assignment in `source`."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "path"
            and isinstance(node.value, ast.Name)
            and node.value.id == "sys"
        ):
            found.append(f"{name}:{node.lineno} sys.path")
        keys = node.keys if isinstance(node, ast.Dict) else []
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            keys = [node.slice]
        if isinstance(node, ast.keyword) and node.arg == "PYTHONPATH":
            found.append(f"{name}:{node.lineno} PYTHONPATH")
        found += [
            f"{name}:{key.lineno} PYTHONPATH"
            for key in keys
            if isinstance(key, ast.Constant) and key.value == "PYTHONPATH"
        ]
    return found


def test_no_code_edits_the_import_path() -> None:
    files = []
    for entry in CHECKED:
        path = ROOT / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    edits = [
        hit for path in files for hit in path_edits(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert edits == []


@pytest.mark.parametrize(
    "source",
    [
        "import sys\nsys.path.insert(0, 'lambda_src')\n",
        "import sys\nsys.path[:0] = ['.']\n",
        "import os\nos.environ['PYTHONPATH'] = 'lambda_src'\n",
        "env = {'PYTHONPATH': 'lambda_src'}\n",
        "env = dict(PYTHONPATH='lambda_src')\n",
    ],
)
def test_the_gate_finds_a_path_edit(source: str) -> None:
    assert path_edits(source, "probe.py")


def test_the_gate_lets_a_test_clear_pythonpath() -> None:
    source = "env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH',)}\n"
    assert path_edits(source, "probe.py") == []
