"""Scripts for a deployed stack: smoke test and bounded burst (boto3; need an AWS account)."""
