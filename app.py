#!/usr/bin/env python3
"""CDK entry point: reads context once, builds the stacks, registers cdk-nag (make synth)."""

import sys
from pathlib import Path

# The composition root puts the functions' package on the path: the constructs import the
# contract they share with it (orders.contract) the way Lambda imports it.
sys.path.insert(0, str(Path(__file__).resolve().parent / "lambda_src"))

from aws_cdk import App

from stacks.app_builder import build
from stacks.budget import summary_line

app = App()
built = build(app)
print(summary_line(built.config), file=sys.stderr)
app.synth()
