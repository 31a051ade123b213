"""Outputs: the markdown table, the goal checks, latest.json and the PNG chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import settings as S
from bench.repeat import fair_verdict

P99_GOAL = 1.5


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def markdown(result: dict[str, Any]) -> str:
    lines = burst_lines(result) if result["scenarios"] else run_lines(result)
    lines += causes_lines(result)
    lines += cpu_table(result)
    lines += fair_table(result)
    lines += repeat_lines(result)
    lines += sweep_lines(result)
    lines += read_split_lines(result)
    lines += ["", "Goals:"]
    lines += [f"- {_verdict(ok)}: {text}" for ok, text in goals(result)]
    return "\n".join(lines) + "\n"


def run_lines(result: dict[str, Any]) -> list[str]:
    """The auth model and the machine: every report's first lines."""
    st, machine = result["settings"], result["machine"]
    return [
        auth_line(result),
        f"Machine: {machine['cpu_count']} CPU ({machine['cpu_model'] or 'unknown'}), "
        f"{machine['memory_gib']} GiB, Python {machine['python']}, {machine['postgres']}, "
        f"{machine['pgbouncer']}, psycopg {machine['psycopg']}; {st['workers']} worker "
        f"processes; wall {result['wall_s']:g} s.",
    ]


def burst_lines(result: dict[str, Any]) -> list[str]:
    """The burst's settings and its table, one row per scenario."""
    st = result["settings"]
    lines = [
        f"Burst: {st['start_environments']} -> {st['concurrency']} environments over "
        f"{st['ramp_s']:g} s, hold to {st['duration_s']:g} s at ~{st['hold_rate_rps']:g} req/s "
        f"(1 request per environment every {st['per_environment_interval_s']:g} s); "
        f"PostgreSQL max_connections={st['postgres_max_connections']}; PgBouncer pool "
        f"{st['pool_size']} (= {st['proxy_model']['max_connections_percent']}% "
        f"MaxConnectionsPercent, borrow timeout {st['proxy_model']['borrow_timeout_s']} s); "
        f"pool k={st['pool_k']}.",
        *run_lines(result),
        "",
        "| Scenario | Envs | Requests | OK | Too many clients | Timeout | Other "
        "| Peak server conns | Cap | Throughput (req/s) | p50 ms | p95 ms | p99 ms | Cold p50 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for sc in result["scenarios"]:
        label = sc["label"] + (f" (k={sc['pool_k']})" if sc["pool_k"] else "")
        cap = "-" if sc["server_connection_cap"] is None else str(sc["server_connection_cap"])
        errors = sc["errors"]
        lines.append(
            f"| {label} | {sc['concurrency']} | {sc['requests']} | {sc['ok']} "
            f"| {errors['too_many_clients']} | {errors['timeout']} | {errors['other']} "
            f"| {sc['peak_server_connections']} | {cap} | {sc['throughput_rps']:g} "
            f"| {_ms(sc['p50_ms'])} | {_ms(sc['p95_ms'])} | {_ms(sc['p99_ms'])} "
            f"| {_ms(sc['cold_p50_ms'])} |"
        )
    return lines


def auth_line(result: dict[str, Any]) -> str:
    """The auth cost model every connect paid (older results without one: scram-4096)."""
    model = result.get("auth_model", "scram-4096")
    auth = result["settings"].get("auth") or {}
    iterations = auth.get("scram_iterations", 4096 if model == "scram-4096" else "?")
    why = (
        "costs what an IAM-token login costs: TLS + a few hashes, no 4096-round PBKDF2"
        if model == "iam-like"
        else "PostgreSQL's default verifier: PBKDF2 on the client at every connect"
    )
    return (
        f"Auth model: {model} (TLS verify-full + SCRAM-SHA-256, {iterations}-iteration "
        f"verifier, on every connect of every scenario; {why})."
    )


def _verdict(ok: bool | None) -> str:
    return "INFO" if ok is None else "PASS" if ok else "MISS"  # INFO: information or unresolved


def cpu_table(result: dict[str, Any]) -> list[str]:
    """Who used the CPUs during each scenario (bench clients, servers, other jobs)."""
    rows = [sc for sc in result["scenarios"] if sc.get("cpu")]
    if not rows:
        return []
    cpus = result["machine"]["cpu_count"]
    lines = [
        "",
        f"CPU during each scenario, in cores (CPU seconds per second; the machine has {cpus}); "
        "PgBouncer is single-threaded, so 1.0 would be pegged:",
        "",
        "| Scenario | Bench clients | PostgreSQL | PgBouncer | PgBouncer peak (1 s) "
        "| Other processes | Machine busy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for sc in rows:
        cpu = sc["cpu"]
        peak = cpu.get("pgbouncer_peak_1s_cores")
        lines.append(
            f"| {sc['label']} | {cpu['bench_clients_cores']:.2f} | {cpu['postgres_cores']:.2f} "
            f"| {cpu['pgbouncer_cores']:.2f} | {'-' if peak is None else f'{peak:.2f}'} "
            f"| {cpu['other_processes_cores']:.2f} | {cpu['machine_busy_cores']:.2f} |"
        )
    return lines


def fair_table(result: dict[str, Any]) -> list[str]:
    """Direct vs pooled at the same offered load, within what direct can serve."""
    fair = result.get("fair_comparison")
    if not fair:
        return []
    order = ", ".join("direct" if n == S.MODULE_DIRECT else "pooled" for n in fair["order"])
    lines = [
        "",
        f"Fair warm-path comparison: the same offered load on both paths, {fair['concurrency']} "
        f"environments at ~{fair['rate_rps']:g} req/s (1 request per environment every "
        f"{fair['per_environment_interval_s']:g} s), {fair['duration_s']:g} s per round with "
        f"the first {fair['warmup_s']:g} s (cold connects) left out; rounds in the order "
        f"{order}.",
        "",
        "| Path | Envs | Requests | OK | Errors | Peak server conns | Cap | Throughput (req/s) "
        "| Warm p50 ms | Warm p95 ms | Warm p99 ms | p99 per round ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for path in fair["paths"]:
        cap = "-" if path["server_connection_cap"] is None else str(path["server_connection_cap"])
        rounds = ", ".join(_ms(v) for v in path["round_p99_ms"])
        lines.append(
            f"| {path['label']} | {path['concurrency']} | {path['requests']} | {path['ok']} "
            f"| {sum(path['errors'].values())} | {path['peak_server_connections']} | {cap} "
            f"| {path['throughput_rps']:g} | {_ms(path['p50_ms'])} | {_ms(path['p95_ms'])} "
            f"| {_ms(path['p99_ms'])} | {rounds} |"
        )
    return lines


def _burst_goals(by_name: dict[str, Any], max_conn: int) -> list[tuple[bool | None, str]]:
    checks: list[tuple[bool | None, str]] = []
    pooled, direct = by_name.get(S.MODULE_POOLED), by_name.get(S.MODULE_DIRECT)
    if pooled:
        errors = sum(pooled["errors"].values())
        checks.append((errors == 0, f"pooled: {errors} errors at {pooled['concurrency']} envs"))
        cap, peak = pooled["server_connection_cap"], pooled["peak_server_connections"]
        checks.append((peak <= cap, f"pooled: peak server connections {peak} <= cap {cap}"))
    if direct:
        errors = sum(direct["errors"].values())
        beyond = direct["concurrency"] > max_conn
        checks.append(
            (
                errors > 0 if beyond else errors == 0,
                f"direct: {errors} errors with {direct['concurrency']} envs vs "
                f"max_connections={max_conn}",
            )
        )
    return checks


def _fair_goal(result: dict[str, Any]) -> list[tuple[bool | None, str]]:
    """The p99 goal on the same-load comparison: the median of the back-to-back pairs' ratios."""
    fair_result = result.get("fair_comparison") or {}
    fair = {p["name"]: p for p in fair_result.get("paths", [])}
    pooled, direct = fair.get(S.MODULE_POOLED), fair.get(S.MODULE_DIRECT)
    if not (pooled and direct and pooled["p99_ms"] and direct["p99_ms"]):
        return []
    errors = sum(pooled["errors"].values()) + sum(direct["errors"].values())
    pairs = fair_result.get("pair_p99_ratios") or []
    ratio = fair_result.get("p99_ratio_median")
    if ratio is None:  # results written before pairs existed: the pooled percentiles' ratio
        ratio = pooled["p99_ms"] / direct["p99_ms"]
    verdict = fair_verdict(pairs)
    ok: bool | None = (
        ratio <= P99_GOAL if verdict is None else {"PASS": True, "MISS": False}.get(verdict)
    )
    spread_text = (
        f"back-to-back pairs {', '.join(f'{r:g}' for r in pairs)}: "
        + ("not resolved by this lab, the pairs straddle the goal; " if ok is None else "")
        if pairs
        else ""
    )
    return [
        (
            ok,
            f"pooled warm p99 = {ratio:.2f}x direct warm p99 at the same load (median of "
            f"{spread_text}all rounds pooled: {pooled['p99_ms']:.1f} ms vs "
            f"{direct['p99_ms']:.1f} ms; {direct['concurrency']} envs, "
            f"~{fair_result['rate_rps']:g} req/s, {errors} errors; goal <= {P99_GOAL}x)",
        )
    ]


def _burst_ratio(by_name: dict[str, Any], fair: bool) -> list[tuple[bool | None, str]]:
    pooled, direct = by_name.get(S.MODULE_POOLED), by_name.get(S.MODULE_DIRECT)
    if not (pooled and direct and pooled["p99_ms"] and direct["p99_ms"]):
        return []
    ratio = pooled["p99_ms"] / direct["p99_ms"]
    text = (
        f"pooled warm p99 {pooled['p99_ms']:.1f} ms = {ratio:.2f}x direct warm p99 "
        f"{direct['p99_ms']:.1f} ms"
    )
    if not fair:
        return [(ratio <= P99_GOAL, text + f" (goal <= {P99_GOAL}x)")]
    # Not the goal's comparison: in the burst, direct serves only the environments PostgreSQL
    # admits (at a fraction of the load) while pooled serves all of them.
    return [
        (
            None,
            f"burst (unequal load: direct {direct['throughput_rps']:g} req/s from "
            f"{direct['environments_served']} envs served, pooled {pooled['throughput_rps']:g} "
            f"req/s from {pooled['environments_served']}): " + text,
        )
    ]


def _read_split_goal(result: dict[str, Any]) -> list[tuple[bool | None, str]]:
    """Writer peak down with the reader at no more errors (judged on back-to-back pairs); p99
    side by side with the pairs' spread, never gated."""
    split = result.get("read_split")
    if not split:
        return []
    only, reader = (split["paths"][0], split["paths"][1])
    pairs = "; ".join(f"{a} -> {b}" for a, b in split["pair_writer_peaks"])
    verdict = split["verdict"]
    ok = {"PASS": True, "MISS": False}.get(verdict or "")
    ratios = split["pair_p99_ratios"]
    p99 = split["p99_ratio_spread"]
    return [
        (
            ok,
            f"read split: writer peak server connections {reader['peak_server_connections']} "
            f"with the reader vs {only['peak_server_connections']} without (back-to-back "
            f"pairs, without -> with: {pairs}; {verdict}), errors "
            f"{sum(reader['errors'].values())} vs {sum(only['errors'].values())}",
        ),
        (
            None,
            f"read split: warm p99 {_ms(reader['p99_ms'])} ms with the reader vs "
            f"{_ms(only['p99_ms'])} ms without; with/without per back-to-back pair "
            f"{', '.join(f'{r:g}' for r in ratios) or '-'} (median {_cell(p99)}; not gated: the "
            "replica and its pool share the same two cores)",
        ),
    ]


def goals(result: dict[str, Any]) -> list[tuple[bool | None, str]]:
    """The issue's goals, checked against this run (reported, never enforced); None = info."""
    by_name = {sc["name"]: sc for sc in result["scenarios"]}
    checks = _burst_goals(by_name, result["settings"]["postgres_max_connections"])
    fair = _fair_goal(result)
    checks += fair
    checks += _burst_ratio(by_name, bool(fair))
    per_call, direct = by_name.get(S.PER_INVOCATION), by_name.get(S.MODULE_DIRECT)
    if per_call and direct and per_call["p50_ms"] and direct["p50_ms"]:
        ratio = per_call["p50_ms"] / direct["p50_ms"]
        checks.append(
            (
                ratio >= 2.0,
                f"per-invocation connect warm p50 {per_call['p50_ms']:.1f} ms = {ratio:.1f}x "
                f"module-scope direct p50 {direct['p50_ms']:.1f} ms (visibly slower: >= 2x)",
            )
        )
    return checks + _read_split_goal(result)


def causes_lines(result: dict[str, Any]) -> list[str]:
    """Which failure (which timeout) each scenario's errors were."""
    lines = []
    for sc in result["scenarios"]:
        causes = sc.get("error_causes") or {}
        if causes:
            text = ", ".join(f"{name} {count}" for name, count in causes.items())
            lines.append(f"- {sc['name']}: {text}")
    return ["", "Failed requests by cause:", *lines] if lines else []


def _cell(figure: dict[str, Any]) -> str:
    if figure.get("median") is None:
        return "-"
    if figure["min"] == figure["max"]:
        return f"{figure['median']:g}"
    return f"{figure['median']:g} [{figure['min']:g}-{figure['max']:g}]"


def repeat_lines(result: dict[str, Any]) -> list[str]:
    """Each figure's median [min-max] over the repeated passes of the first level."""
    summary = result.get("repeat_summary")
    if not summary:
        return []
    lines = [
        "",
        f"Over {summary['runs']} runs: median [min-max] per figure.",
        "",
        "| Scenario | Runs with 0 errors | Errors | Requests | Peak server conns "
        "| Throughput (req/s) | p50 ms | p95 ms | p99 ms | Cold p50 ms | Other processes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figs in summary["scenarios"].items():
        cells = [_cell(figs[key]) for key in (
            "errors_total", "requests", "peak_server_connections", "throughput_rps", "p50_ms",
            "p95_ms", "p99_ms", "cold_p50_ms", "other_processes_cores")]  # fmt: skip
        lines.append(
            f"| {S.SCENARIO_LABELS[name]} | {figs['zero_error_runs']}/{figs['runs']} | "
            + " | ".join(cells)
            + " |"
        )
    fair = summary.get("fair_comparison")
    if fair:
        lines += [
            "",
            f"Same-load p99 ratio (median of pairs) over the runs: "
            f"{_cell(fair['p99_ratio_median'])}; verdicts {', '.join(map(str, fair['verdicts']))}"
            f" ({'stable' if fair['verdict_stable'] else 'NOT stable'}).",
        ]
    return lines


def sweep_lines(result: dict[str, Any]) -> list[str]:
    sweep = result.get("sweep")
    if not sweep:
        return []
    lines = [
        "",
        "Concurrency sweep, pooled path (median [min-max] over the runs of each level):",
        "",
        "| Envs | Runs with 0 errors | Errors per run | Causes | Throughput (req/s) "
        "| Peak server conns | Warm p99 ms | PgBouncer CPU (1 s peak) | PgBouncer run-queue wait "
        "(1 s peak) | Bench clients | Other |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in sweep["levels"]:
        causes = ", ".join(f"{k} {v}" for k, v in row["error_causes"].items()) or "-"
        lines.append(
            f"| {row['concurrency']} | {row['zero_error_runs']}/{row['runs']} "
            f"| {', '.join(map(str, row['errors_per_run']))} | {causes} "
            f"| {_cell(row['throughput_rps'])} | {_cell(row['peak_server_connections'])} "
            f"| {_cell(row['p99_ms'])} | {_cell(row['pgbouncer_peak_1s_cores'])} "
            f"| {_cell(row.get('pgbouncer_runqueue_wait_peak_1s') or {})} "
            f"| {_cell(row['bench_clients_cores'])} | {_cell(row['other_processes_cores'])} |"
        )
    lines += ["", f"Largest N with 0 errors in every run: {sweep['largest_all_zero_errors']}"]
    return lines


def read_split_lines(result: dict[str, Any]) -> list[str]:
    """The read split's two paths side by side: writer and reader pools, reads, latencies."""
    split = result.get("read_split")
    if not split:
        return []
    order = ", ".join("with" if n == S.SPLIT_WITH_READER else "without" for n in split["order"])
    mix = ", ".join(f"{share:.0%} {op}" for op, share in split["mix"].items())
    lines = [
        "",
        f"Read split: {split['concurrency']} environments at ~{split['rate_rps']:g} req/s "
        f"({mix}), {split['duration_s']:g} s per round with fresh pools, the first "
        f"{split['warmup_s']:g} s left out of the latencies; reader: a hot-standby replica "
        f"behind its own PgBouncer at {split['reader']['host']} (sslmode "
        f"{split['reader']['sslmode']}); rounds without/with the reader in the order {order}.",
        "",
        "| Path | Envs | Requests | OK | Errors | Writer peak server conns (per round) "
        "| Reader peak server conns | Reads on reader / on writer (reader down / missed) "
        "| Warm p50 ms | Warm p99 ms | p99 per round ms |",
        "|---|---:|---:|---:|---:|---|---:|---|---:|---:|---|",
    ]
    for path in split["paths"]:
        reads = path["reads"]
        rounds = ", ".join(map(str, path["round_peak_server_connections"]))
        lines.append(
            f"| {path['label']} | {path['concurrency']} | {path['requests']} | {path['ok']} "
            f"| {sum(path['errors'].values())} | {path['peak_server_connections']} ({rounds}) "
            f"| {path['reader_peak_server_connections']} | {reads['reader']} / {reads['writer']} "
            f"({reads['reader_unavailable']} / {reads['reader_miss']}) | {_ms(path['p50_ms'])} "
            f"| {_ms(path['p99_ms'])} | {', '.join(_ms(v) for v in path['round_p99_ms'])} |"
        )
    return lines


def write_json(result: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(result, indent=2) + "\n")


def write_chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415  # only when a chart is wanted

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    scenarios = result["scenarios"]
    st = result["settings"]
    fig, axes = plt.subplots(2, 2, figsize=(14, 9), constrained_layout=True)
    conn_ax, err_ax, ok_ax, lat_ax = axes.flat
    for sc in scenarios:
        tl = sc["timeline"]
        xs = [i * tl["bucket_s"] for i in range(len(tl["server_connections_max"]))]
        label = sc["label"]
        conn_ax.step(xs, tl["server_connections_max"], where="post", label=label)
        err_ax.plot(xs[: len(tl["errors_per_s"])], tl["errors_per_s"], label=label)
        ok_ax.plot(xs[: len(tl["ok_per_s"])], tl["ok_per_s"], label=label)
    conn_ax.axhline(st["postgres_max_connections"], color="red", ls="--", lw=1)
    conn_ax.text(0, st["postgres_max_connections"], " max_connections", color="red", va="bottom")
    conn_ax.axhline(st["pool_size"], color="gray", ls=":", lw=1)
    conn_ax.text(0, st["pool_size"], " pooler cap", color="gray", va="top")
    for ax in (conn_ax, err_ax, ok_ax):
        ax.axvline(st["ramp_s"], color="black", lw=0.5, alpha=0.4)
        ax.set_xlabel("seconds since burst start (ramp ends at the thin line)")
        ax.grid(alpha=0.3)
    conn_ax.set_title("Server connections of the app role (pg_stat_activity, max per 0.5 s)")
    err_ax.set_title("Failed requests per second")
    ok_ax.set_title("Successful requests per second")
    conn_ax.legend(fontsize=8, loc="center right")
    bars = [(f"burst:\n{sc['name']}", sc) for sc in scenarios]
    fair = result.get("fair_comparison")
    if fair:
        bars += [
            (f"same load ({fair['concurrency']} envs):\n{path['name']}", path)
            for path in fair["paths"]
        ]
    names = [name for name, _ in bars]
    series = [("warm p50", "p50_ms"), ("warm p95", "p95_ms"), ("warm p99", "p99_ms")]
    series.append(("cold p50", "cold_p50_ms"))
    width = 0.8 / len(series)
    for i, (label, key) in enumerate(series):
        values = [item.get(key) or 0 for _, item in bars]
        lat_ax.bar([x + i * width for x in range(len(names))], values, width, label=label)
    lat_ax.set_xticks(
        [x + 0.4 - width / 2 for x in range(len(names))], names, fontsize=7, rotation=20, ha="right"
    )
    lat_ax.set_yscale("log")
    lat_ax.set_ylabel("ms (log)")
    lat_ax.set_title("Latency of successful requests (burst; then same-load pair)")
    lat_ax.legend(fontsize=8)
    lat_ax.grid(alpha=0.3, axis="y")
    fig.suptitle(
        f"Burst {st['start_environments']} -> {st['concurrency']} environments, "
        f"PostgreSQL max_connections={st['postgres_max_connections']}, "
        f"PgBouncer pool {st['pool_size']} ({result['machine']['cpu_count']} CPU)"
    )
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_outputs(result: dict[str, Any], out_dir: Path, *, chart: bool) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "latest.json", out_dir / "latest.md"]
    write_json(result, written[0])
    written[1].write_text(markdown(result))
    if chart and result["scenarios"]:  # the chart draws the burst scenarios
        written.append(out_dir / "latest.png")
        write_chart(result, written[-1])
    return written
