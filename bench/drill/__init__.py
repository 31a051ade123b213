"""Fault drills under load: the functions' code through PgBouncer while things break."""
