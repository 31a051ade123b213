"""CDK stacks and components of the Lambda -> RDS Proxy -> PostgreSQL reference app."""
