"""Every command the Makefile runs starts in a plain interpreter, as `make` starts it.

pytest puts lambda_src on the path for the tests; the commands get no such help. A module that
imports the functions' package (orders.contract) only works from `make` if the entry point finds
it on its own: these run each command the way the Makefile does, without PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

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
    (["tools.lock", "--check"], {0}),
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


def test_app_py_synthesizes_without_pythonpath(tmp_path: Path) -> None:
    # What `cdk synth` runs (cdk.json "app": "python app.py"), with the context the CLI passes.
    from stacks.loader import read_context  # noqa: PLC0415

    context = {**read_context(), "aws:cdk:bundling-stacks": []}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env.update(CDK_CONTEXT_JSON=json.dumps(context), CDK_OUTDIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.glob("*.template.json"))
