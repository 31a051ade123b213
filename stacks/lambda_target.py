"""What the functions' bundle targets: Lambda's Python, its machines, what its runtime provides.

Plain data (no CDK import): the bundler (stacks/components/bundling.py) installs for it, and the
Lambda lock's check (tools/lambda_lock.py) and the tests read it.
"""

from __future__ import annotations

PYTHON_VERSION = "3.14"
# functions.architecture -> the machine its wheels are built for.
MACHINE_OF = {"arm64": "aarch64", "x86_64": "x86_64"}
# Every machine a function can run on: the one Lambda lock must fit each.
MACHINES = tuple(MACHINE_OF.values())
# Distributions the Lambda Python runtime already provides (boto3 and its dependency tree).
# lambda_src/requirements.txt pins everything else, transitive dependencies included, and pip
# runs with --no-deps: otherwise any package that depends on botocore drags a second copy (~25 MB
# unzipped) into every function. tests/infra/test_bundling.py checks the bundle's dependency
# closure against this.
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "jmespath", "python-dateutil", "s3transfer", "six", "urllib3"}
)


def marker_environment(machine: str) -> dict[str, str]:
    """How Lambda's Python on Amazon Linux evaluates requirement markers (PEP 508, no extras)."""
    return {
        "python_version": PYTHON_VERSION,
        "python_full_version": f"{PYTHON_VERSION}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": machine,
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }
