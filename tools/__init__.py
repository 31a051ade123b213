"""Project tooling: dependency locks (lock.py) and the workflow linter (actionlint.mjs)."""
