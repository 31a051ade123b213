#!/usr/bin/env python3
"""CDK entry point: reads context once, builds the stacks, registers cdk-nag (make synth)."""

import sys

from aws_cdk import App

from stacks.app_builder import build
from stacks.budget import summary_line

app = App()
built = build(app)
print(summary_line(built.config), file=sys.stderr)
app.synth()
