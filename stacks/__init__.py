"""CDK stacks and components of the Lambda -> RDS Proxy -> PostgreSQL reference app.

The constructs import the contract they share with the functions (`orders.contract`: environment
variables, routes, metric names) from the function package itself, as Lambda imports it: any
entry point that imports `stacks` (app.py, make budget/docs, the ops scripts, the lab) gets
lambda_src on its path here, once.
"""

import sys
from pathlib import Path

_LAMBDA_SRC = str(Path(__file__).resolve().parent.parent / "lambda_src")
if _LAMBDA_SRC not in sys.path:
    sys.path.insert(0, _LAMBDA_SRC)
