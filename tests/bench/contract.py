"""The issue's JSON contract for bench/results/latest.json, spelled out apart from the code."""

# Keys every entry of the top-level `scenarios` list must carry (extra keys are allowed).
SCHEMA_KEYS = frozenset(
    {
        "name",
        "concurrency",
        "requests",
        "ok",
        "errors",
        "peak_server_connections",
        "server_connection_cap",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "cold_p50_ms",
    }
)

# Dicts keyed by what happened in a run (a count per failure cause): their keys vary by run.
DATA_KEYED = frozenset({"error_causes", "failed_requests", "failed_after_fault"})
# Sections written only when something occurred (a full GC in a worker during the burst).
OPTIONAL = frozenset({"worker_gc_pauses"})


# Scenario keys the code has written since bench/results/latest.json's run: 363ed18 added the
# worker GC pause figure in the commit that brought that file (concurrency-1000.json, run later,
# has it).
NEWER_THAN_LATEST_JSON = ("worker_gc_pause_max_ms",)


def key_paths(report: object, prefix: str = "") -> set[str]:
    """Every key of a report as a dotted path; list entries are addressed by their ``name``."""
    paths: set[str] = set()
    if isinstance(report, dict):
        for key, value in report.items():
            if key in OPTIONAL:
                continue
            paths.add(prefix + key)
            if key not in DATA_KEYED:
                paths |= key_paths(value, f"{prefix}{key}.")
    elif isinstance(report, list):
        for item in report:
            if isinstance(item, dict):
                paths |= key_paths(item, f"{prefix}[{item.get('name', '')}].")
    return paths


def same_entries(committed: dict, fresh: dict, list_key: str) -> dict:
    """``committed`` with its ``list_key`` entries cut to the names the fresh run has."""
    names = {entry["name"] for entry in fresh[list_key]}
    return {**committed, list_key: [e for e in committed[list_key] if e["name"] in names]}
