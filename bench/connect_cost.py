"""Per-connect CPU cost, split by client / PgBouncer / PostgreSQL, under each auth model.

Usage: .venv/bin/python -m bench.connect_cost [--connects 300] [--threads 4]

Starts a throwaway PostgreSQL + PgBouncer (as the bench does: TLS verify-full, scram-sha-256,
auth_query), gives an app role each auth model's verifier, and opens ``--connects`` connections
one after the other with the functions' own connect (``orders.db.connect_psycopg``), each
running ``SELECT 1`` and closing. Client CPU is this process's (getrusage), the servers' from
/proc. Then ``--threads`` threads connect through PgBouncer for a few seconds: connects/s.
Not a test; numbers are this machine's.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import threading
import time
from pathlib import Path

from bench.auth import AUTH_MODELS, apply_auth_model
from bench.cpu import machine_busy_s, postgres_cpu_s, process_cpu_s
from localpg import LocalPgBouncer, LocalPostgres

ROLE = "cost_app"


def _client_cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _settle(pg: LocalPostgres) -> None:
    """Wait until the role's backends are gone (direct) so their CPU is reaped and counted."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        rows = pg.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (ROLE,))
        if int(rows[0][0]) == 0:
            return
        time.sleep(0.05)


def sequential(
    pg: LocalPostgres, bouncer: LocalPgBouncer | None, password: str, connects: int
) -> dict[str, float]:
    from orders.db import connect_psycopg  # noqa: PLC0415
    from orders.settings import DbSettings  # noqa: PLC0415

    settings = DbSettings(
        host=pg.host,
        port=bouncer.port if bouncer else pg.port,
        dbname="postgres",
        user=ROLE,
        connect_timeout_s=5,
        sslmode="verify-full",
        sslrootcert=Path(pg.ca_cert_path),
        region="local",
    )

    def once() -> None:
        conn = connect_psycopg(settings, password)
        conn.execute("SELECT 1")
        conn.close()

    for _ in range(10):  # warm-up: imports, PgBouncer's server connection
        once()
    if bouncer is None:
        _settle(pg)
    bouncer_pid = bouncer.pid if bouncer else None
    start = (_client_cpu_s(), process_cpu_s(bouncer_pid), postgres_cpu_s(pg.pid), time.monotonic())
    for _ in range(connects):
        once()
    wall = time.monotonic() - start[3]
    client = _client_cpu_s() - start[0]
    bouncer_cpu = process_cpu_s(bouncer_pid) - start[1]
    if bouncer is None:
        _settle(pg)
    postgres = postgres_cpu_s(pg.pid) - start[2]
    per = 1000.0 / connects
    return {
        "client_ms": round(client * per, 2),
        "pgbouncer_ms": round(bouncer_cpu * per, 2),
        "postgres_ms": round(postgres * per, 2),
        "wall_ms": round(wall * per, 2),
    }


def parallel(
    pg: LocalPostgres, bouncer: LocalPgBouncer, password: str, threads: int, seconds: float
) -> dict[str, float]:
    from orders.db import connect_psycopg  # noqa: PLC0415
    from orders.settings import DbSettings  # noqa: PLC0415

    settings = DbSettings(
        host=pg.host,
        port=bouncer.port,
        dbname="postgres",
        user=ROLE,
        connect_timeout_s=5,
        sslmode="verify-full",
        sslrootcert=Path(pg.ca_cert_path),
        region="local",
    )
    done = [0] * threads
    start_at = time.monotonic() + 0.2
    end_at = start_at + seconds

    def loop(index: int) -> None:
        while time.monotonic() < start_at:
            time.sleep(0.01)
        while time.monotonic() < end_at:
            conn = connect_psycopg(settings, password)
            conn.execute("SELECT 1")
            conn.close()
            done[index] += 1

    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    time.sleep(0.2)
    before = (
        _client_cpu_s(),
        process_cpu_s(bouncer.pid),
        postgres_cpu_s(pg.pid),
        machine_busy_s()[0],
    )
    for worker in workers:
        worker.join(seconds + 30)
    wall = time.monotonic() - start_at
    after = (
        _client_cpu_s(),
        process_cpu_s(bouncer.pid),
        postgres_cpu_s(pg.pid),
        machine_busy_s()[0],
    )
    return {
        "connects_per_s": round(sum(done) / wall, 1),
        "client_cores": round((after[0] - before[0]) / wall, 2),
        "pgbouncer_cores": round((after[1] - before[1]) / wall, 2),
        "postgres_cores": round((after[2] - before[2]) / wall, 2),
        "machine_busy_cores": round((after[3] - before[3]) / wall, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.connect_cost", description=__doc__)
    parser.add_argument("--connects", type=int, default=300)
    parser.add_argument("--threads", type=int, default=4, help="parallel phase (0 = skip)")
    parser.add_argument("--seconds", type=float, default=8.0, help="parallel phase duration")
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    print(f"load average at start: {os.getloadavg()}", flush=True)
    password = secrets.token_urlsafe(18)
    with LocalPostgres(max_connections=100) as pg:
        from psycopg import sql  # noqa: PLC0415

        with pg.connect() as conn:
            verifier = conn.pgconn.encrypt_password(
                password.encode(), ROLE.encode(), b"scram-sha-256"
            ).decode()
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(ROLE), sql.Literal(verifier)
                )
            )
        with LocalPgBouncer(pg, pool_size=20) as bouncer:
            rows = []
            for model in reversed(AUTH_MODELS):  # scram-4096 first: the libpq verifier above
                iterations = apply_auth_model(pg, ROLE, password, model)
                for path, via in (("direct", None), ("through PgBouncer", bouncer)):
                    cost = sequential(pg, via, password, args.connects)
                    rows.append((model, iterations, path, cost))
                    print(f"{model} ({iterations} it.) {path}: {cost}", flush=True)
                if args.threads:
                    par = parallel(pg, bouncer, password, args.threads, args.seconds)
                    print(f"{model} {args.threads} threads through PgBouncer: {par}", flush=True)
    print()
    print(
        "| Auth model | Path | Client CPU ms | PgBouncer CPU ms | PostgreSQL CPU ms "
        "| Wall ms (sequential) |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for model, iterations, path, cost in rows:
        print(
            f"| {model} ({iterations} it.) | {path} | {cost['client_ms']:.1f} "
            f"| {cost['pgbouncer_ms']:.1f} | {cost['postgres_ms']:.1f} | {cost['wall_ms']:.1f} |"
        )
    print(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
