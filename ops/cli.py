"""What every ops command shares without AWS: its one-line error exit.

Kept apart from ops.aws so that the commands `make deploy`, `diff` and `destroy` run before the
CDK CLI (ops.stack_names) and the workflows' plan (ops.ci_matrix) start without importing boto3.
"""

from __future__ import annotations

import sys


def fail(message: str) -> int:
    """Print `error: message` on stderr; the exit code of a usage or configuration error."""
    print(f"error: {message}", file=sys.stderr)
    return 2
