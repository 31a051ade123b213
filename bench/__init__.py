"""Burst lab: the orders code path under a Lambda-like burst, direct vs through a pooler."""
