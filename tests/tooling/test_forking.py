"""docs/forking.md, performed: every step on a copy of the repository, then synth and tests.

The guide's code blocks are the steps (`<!-- fork: <action> <args> -->` before each block); this
module applies them all in order to one copy, as a fork that follows the whole guide (the burst
lab removed too), and counts the files each step touches. The copy gets its own environment, as
a fork's `make setup` makes one: its `orders` installed editable from its own pyproject.toml, so
it imports the copy's functions, not this checkout's. One run of the copy's interpreter then
synthesizes the result with the cdk-nag gate and runs pytest over the copy's whole tests
directory: every module must collect (none may import the removed lab), and the contract tests
run. One process, because each that imports the CDK pays seconds to start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stacks import control_tower

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "forking.md"
_SECTION = re.compile(r"^## (?P<title>.+)$", re.MULTILINE)
_STEP = re.compile(
    r"<!-- fork: (?P<action>[a-z-]+)(?P<args>[^>]*?) -->\s*\n```[a-z]*\n(?P<body>.*?)```",
    re.DOTALL,
)
# Files a forker edits per step (generated files such as snapshots and README tables excluded).
GOALS = {
    "Rename the app and the service": 1,
    "Point the `ci` section at your repository": 1,
    "Add an environment": 1,
    "Retune an environment": 1,
    "Switch an environment to Aurora": 1,
    "Add a route": 3,
    "Add a table": 3,
}
REMOVE_LAB = "Remove the burst lab"


@dataclass(frozen=True)
class Step:
    section: str
    action: str
    args: list[str]
    body: str


def guide_steps(text: str) -> list[Step]:
    steps = []
    sections = [(m.start(), m.group("title")) for m in _SECTION.finditer(text)]
    for match in _STEP.finditer(text):
        section = [title for start, title in sections if start < match.start()][-1]
        steps.append(
            Step(section, match.group("action"), match.group("args").split(), match.group("body"))
        )
    return steps


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _edit_json(path: Path, change: Any) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2) + "\n")


def apply(step: Step, repo: Path) -> set[str]:
    """Perform one step on `repo`; return the files it touched (relative paths)."""
    args, body = step.args, step.body
    if step.action == "merge":
        _edit_json(repo / args[0], lambda doc: _merge(doc, json.loads(body)))
    elif step.action == "copy-environment":
        file, source, target = args

        def copy(doc: dict[str, Any]) -> None:
            envs = doc["context"]["environments"]
            envs[target] = json.loads(json.dumps(envs[source]))
            _merge(envs[target], json.loads(body))

        _edit_json(repo / file, copy)
        args = [file]
    elif step.action == "set-section":  # replace one section of an environment
        file, env, section = args
        _edit_json(
            repo / file,
            lambda doc: doc["context"]["environments"][env].__setitem__(section, json.loads(body)),
        )
        args = [file]
    elif step.action == "append":  # after two blank lines, as PEP 8 separates top-level code
        path = repo / args[0]
        path.write_text(path.read_text().rstrip("\n") + "\n\n\n" + body)
    elif step.action == "create":
        path = repo / args[0]
        assert not path.exists(), f"{args[0]} exists already"
        path.write_text(body)
    elif step.action == "delete":
        args = body.split()
        for rel in args:
            target = repo / rel
            shutil.rmtree(target) if target.is_dir() else target.unlink()
    elif step.action == "remove-lines":
        path = repo / args[0]
        prefixes = body.splitlines()
        lines = path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not any(line.startswith(p) for p in prefixes)]
        assert len(lines) - len(kept) == len(prefixes), f"{args[0]}: not every line was found"
        path.write_text("".join(kept))
    elif step.action == "replace":
        path = repo / args[0]
        old, new = body.splitlines()
        assert old in path.read_text(), f"{args[0]}: {old!r} not found"
        path.write_text(path.read_text().replace(old, new, 1))
    else:
        raise AssertionError(f"unknown fork action {step.action!r}")
    return set(args)


def _copy_repo(target: Path) -> Path:
    files = subprocess.run(
        # tracked and untracked-but-not-ignored files: the work tree as it would be committed
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        rel = name.decode()
        if not (ROOT / rel).exists():  # deleted in the work tree, not yet committed
            continue
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target / rel)
    return target


def _python(repo: Path) -> Path:
    return repo / ".venv" / "bin" / "python"


def _set_up(repo: Path) -> Path:
    """`make setup` for the copy: a virtualenv with the copy's package installed editable.

    The pinned third-party packages are this environment's, named by a .pth line rather than
    installed again from PyPI (offline, seconds). Only .pth files in the copy's own
    site-packages run, so this checkout's editable install (a .pth file in the directory named)
    never puts its lambda_src on the copy's path; pip leaves that install alone (outside the
    copy's environment) when it installs the copy's.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", repo / ".venv"], check=True)
    site = subprocess.run(
        [_python(repo), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    shared = dict.fromkeys(sysconfig.get_path(key) for key in ("purelib", "platlib"))
    (Path(site) / "dev-packages.pth").write_text("".join(f"{path}\n" for path in shared))
    install = ["-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-build-isolation"]
    tree = _tree(repo)
    result = _run(repo, *install, "--editable", ".")
    assert result.returncode == 0, result.stderr[-3000:]
    # No build output (egg-info, build/) in the tree: the Lambda asset and its hash stay as
    # committed.
    assert _tree(repo) - tree == set()
    return repo


def _tree(repo: Path) -> set[Path]:
    return {path for path in repo.rglob("*") if ".venv" not in path.relative_to(repo).parts}


def _run(repo: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """`args` run by the copy's interpreter, in the copy, as its Makefile runs them."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    # cfn-guard's verdicts are keyed on the templates' bytes: the copy may share this checkout's
    env.setdefault(control_tower.CACHE_DIR_ENV, str(control_tower.DEFAULT_CACHE_DIR))
    return subprocess.run(
        [_python(repo), *args], cwd=repo, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


# Run by the copy's interpreter with one argument, a JSON brief (see `fork_run`); writes its
# findings to brief["out"]. A failed synth is recorded and the tests still run.
_FORK_RUN = """
import json, sys, traceback
from collections import Counter
from pathlib import Path

import pytest

brief = json.loads(sys.argv[1])
found = {}


def synth(envs):
    import orders
    from aws_cdk.assertions import Template
    from stacks.app_builder import build_from_context
    from stacks.components.migration import source_hash
    from stacks.loader import read_context
    out = {}
    for env in envs:
        built = build_from_context(read_context(), env)
        data, service = Template.from_stack(built.data), Template.from_stack(built.service)
        routes = service.find_resources('AWS::ApiGatewayV2::Route').values()
        instances = data.find_resources('AWS::RDS::DBInstance').values()
        clusters = data.find_resources('AWS::RDS::DBCluster').values()
        out[env] = {
            'stacks': [built.data.stack_name, built.service.stack_name],
            'routes': sorted(r['Properties']['RouteKey'] for r in routes),
            'instance_classes': sorted(i['Properties']['DBInstanceClass'] for i in instances),
            'clusters': sorted(c['Properties']['Engine'] for c in clusters),
            'read_only_endpoints': len(data.find_resources('AWS::RDS::DBProxyEndpoint')),
        }
    ci = Template.from_stack(built.ci).to_json()
    out['ci'] = {
        'stack': built.ci.stack_name,
        'subjects': sorted(
            r['Properties']['AssumeRolePolicyDocument']['Statement'][0]['Condition']
            ['StringEquals']['token.actions.githubusercontent.com:sub']
            for r in ci['Resources'].values() if r['Type'] == 'AWS::IAM::Role'
        ),
    }
    out['source_hash'] = source_hash(Path('lambda_src'))
    out['orders'] = orders.__file__
    return out


try:
    found['synth'] = synth(brief['envs'])
except Exception:
    found['synth_error'] = traceback.format_exc()


class RunOnly:
    # Every test module is collected; only the tests in `files` run, the rest deselected.
    def __init__(self, files):
        self.files = set(files)
        self.collected = 0
        self.selected = Counter()
        self.collect_errors = []

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        self.collected = len(items)
        kept, dropped = [], []
        for item in items:
            (kept if item.nodeid.split('::')[0] in self.files else dropped).append(item)
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
        self.selected.update(item.nodeid.split('::')[0] for item in kept)

    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append(report.nodeid)


run_only = RunOnly(brief['run'])
exit_code = pytest.main(brief['pytest_args'], plugins=[run_only])
found['pytest'] = {
    'exit_code': int(exit_code),
    'collected': run_only.collected,
    'selected': dict(run_only.selected),
    'collect_errors': run_only.collect_errors,
}
Path(brief['out']).write_text(json.dumps(found))
"""
# The copy's contract tests: the ones a fork's edits must keep passing.
CONTRACT_TESTS = (
    "tests/infra/test_contract.py",
    "tests/lambdas/test_runtime_contract.py",
    "tests/infra/test_config_validation.py",
)


_TYPEGUARD_REWRITE = "Module already imported so cannot be rewritten; typeguard"


@dataclass(frozen=True)
class ForkRun:
    found: dict[str, Any]  # what _FORK_RUN wrote
    stdout: str  # pytest's report
    stderr: str


@pytest.fixture(scope="module")
def forked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, set[str]]]:
    # Set up before the edits, as a fork is: the editable install must pick them up. (It
    # installs lambda_src's `orders` only: removing the lab afterwards leaves it intact.)
    repo = _set_up(_copy_repo(tmp_path_factory.mktemp("fork")))
    touched: dict[str, set[str]] = {}
    for step in guide_steps(GUIDE.read_text()):
        files = apply(step, repo)
        if step.section != REMOVE_LAB:
            touched.setdefault(step.section, set()).update(files)
    return repo, touched


@pytest.fixture(scope="module")
def fork_run(
    forked: tuple[Path, dict[str, set[str]]], tmp_path_factory: pytest.TempPathFactory
) -> ForkRun:
    """The fork synthesized, its tests collected and its contract tests run: one process."""
    repo, _ = forked
    out = tmp_path_factory.mktemp("fork-run") / "found.json"  # outside the copy's tree
    brief = {
        "out": str(out),
        "envs": ["staging", "dev"],
        "run": CONTRACT_TESTS,
        "pytest_args": [
            *("-q", "-p", "no:cacheprovider"),
            # the snapshot tests are deselected: their snapshots unused is no failure
            "--snapshot-warn-unused",
            # the synth imported typeguard (a pytest plugin too) first: too late to rewrite its
            # asserts, which nothing here needs
            *("-W", f"ignore:{_TYPEGUARD_REWRITE}:pytest.PytestAssertRewriteWarning"),
            "tests",
        ],
    }
    result = _run(repo, "-c", _FORK_RUN, json.dumps(brief))
    assert out.exists(), f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return ForkRun(json.loads(out.read_text()), result.stdout, result.stderr)


def test_the_guide_has_every_step_with_its_code() -> None:
    sections = {step.section for step in guide_steps(GUIDE.read_text())}
    assert sections == {*GOALS, REMOVE_LAB}


def test_each_step_touches_at_most_its_goal(forked: tuple[Path, dict[str, set[str]]]) -> None:
    _, touched = forked
    counts = {section: len(files) for section, files in touched.items()}
    assert counts == {
        "Rename the app and the service": 1,
        "Point the `ci` section at your repository": 1,
        "Add an environment": 1,
        "Retune an environment": 1,
        "Switch an environment to Aurora": 1,
        "Add a route": 3,
        "Add a table": 2,
    }
    for section, goal in GOALS.items():
        assert counts[section] <= goal, (section, touched[section])


def test_the_fork_synthesizes_nag_clean(
    forked: tuple[Path, dict[str, set[str]]], fork_run: ForkRun
) -> None:
    repo, _ = forked
    assert "synth_error" not in fork_run.found, (
        f"{fork_run.found['synth_error']}\n{fork_run.stderr[-3000:]}"
    )
    out = fork_run.found["synth"]
    assert Path(out["orders"]).is_relative_to(repo / "lambda_src"), out["orders"]
    # renamed through project.app_name, staging from cdk.json alone, dev retuned
    assert out["staging"]["stacks"] == ["Acme-staging-Data", "Acme-staging-Service"]
    assert out["dev"]["instance_classes"] == ["db.t4g.medium"]
    assert out["dev"]["clusters"] == []
    # staging switched to Aurora: Serverless v2 writer and reader, a read-only endpoint
    assert out["staging"]["clusters"] == ["aurora-postgresql"]
    assert out["staging"]["instance_classes"] == ["db.serverless", "db.serverless"]
    assert out["staging"]["read_only_endpoints"] == 1
    # the CI roles trust the fork's repository, and only it; named after the renamed app
    assert out["ci"] == {
        "stack": "Acme-CiAccess",
        "subjects": [
            "repo:acme-corp/orders-platform:environment:dev",
            "repo:acme-corp/orders-platform:environment:prod",
            "repo:acme-corp/orders-platform:pull_request",
        ],
    }
    # the new route is deployed (and IAM-authorized like the others: the copy's tests check)
    assert "GET /customers/{customer_id}/orders/count" in out["staging"]["routes"]
    # the new migration changes the package hash: the next deploy re-runs the migration
    from stacks.components.migration import source_hash  # noqa: PLC0415

    assert out["source_hash"] != source_hash(ROOT / "lambda_src")


def test_the_forks_own_contract_tests_pass(fork_run: ForkRun) -> None:
    found = fork_run.found["pytest"]
    assert found["exit_code"] == pytest.ExitCode.OK, fork_run.stdout[-3000:]
    # they ran, each file's: the rest of the copy's tests were collected, not run
    assert [file for file in CONTRACT_TESTS if not found["selected"].get(file)] == [], found


def test_the_lab_comes_out_cleanly(
    forked: tuple[Path, dict[str, set[str]]], fork_run: ForkRun
) -> None:
    repo, _ = forked
    assert not (repo / "bench").exists()
    assert "-m bench" not in (repo / "Makefile").read_text()
    pyproject = (repo / "pyproject.toml").read_text()
    files = re.search(r"^files = \[(.*)\]$", pyproject, re.MULTILINE)
    assert files is not None
    for entry in re.findall(r'"([^"]+)"', files.group(1)):
        assert (repo / entry).exists(), f"mypy would fail: {entry} is gone"
    # every test module of the copy still imports without the lab: the whole directory collected
    found = fork_run.found["pytest"]
    assert found["collect_errors"] == [], fork_run.stdout[-3000:]
    assert found["exit_code"] not in (
        pytest.ExitCode.INTERRUPTED,
        pytest.ExitCode.INTERNAL_ERROR,
        pytest.ExitCode.USAGE_ERROR,
        pytest.ExitCode.NO_TESTS_COLLECTED,
    ), fork_run.stdout[-3000:]
    assert found["collected"] > 0
