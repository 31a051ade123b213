#!/usr/bin/env python3
"""CDK entry point: reads context once, builds the stacks, registers cdk-nag (make synth).

A configuration problem stops it with one `error:` line per problem (the key, the value, what is
allowed) and exit code 2, not a traceback.
"""

import sys

from aws_cdk import App

from stacks.app_builder import build
from stacks.budget import summary_line
from stacks.config import ConfigError
from stacks.loader import ENVIRONMENTS_CONTEXT_KEY

app = App()
try:
    built = build(app)
except ConfigError as exc:
    for problem in exc.problems:
        print(f"error: {problem}", file=sys.stderr)
    if app.node.try_get_context(ENVIRONMENTS_CONTEXT_KEY) is None:
        print(
            "error: no cdk.json context: app.py runs under the CDK CLI (make synth, cdk synth),"
            " which passes it",
            file=sys.stderr,
        )
    sys.exit(2)
print(summary_line(built.config), file=sys.stderr)
app.synth()
