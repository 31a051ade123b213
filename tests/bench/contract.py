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
