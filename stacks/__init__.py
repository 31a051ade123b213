"""CDK stacks and components of the Lambda -> RDS Proxy -> PostgreSQL reference app.

The constructs import the contract they share with the functions (`orders.contract`: environment
variables, routes, metric names) from the function package itself, installed editable from
lambda_src by `make setup` (pyproject.toml), so every entry point imports it as Lambda does.
"""
