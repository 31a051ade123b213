"""Project tooling: the Lambda lock's offline check (lambda_lock.py) and the workflow linter."""
