"""The six faults, each injected a few seconds into a drill run's hold phase."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.auth import scram_sha256_verifier
from bench.drill.netns import ClientNamespace
from localpg import LocalPgBouncer, LocalPostgres, LocalReplica

PG_RESTART = "pg-restart"
PGBOUNCER_RESTART = "pgbouncer-restart"
TERMINATE = "terminate-backends"
NETWORK_STALL = "network-stall"
CREDENTIAL_CHANGE = "credential-change"
REPLICA_STOP = "replica-stop"
FAULTS = (PG_RESTART, PGBOUNCER_RESTART, TERMINATE, NETWORK_STALL, CREDENTIAL_CHANGE, REPLICA_STOP)
DESCRIPTIONS = {
    PG_RESTART: "PostgreSQL fast shutdown, then start (same data, new postmaster): a failover",
    PGBOUNCER_RESTART: "PgBouncer SIGKILLed, a new one on the same port after a pause: "
    "a proxy node replaced",
    TERMINATE: "pg_terminate_backend() on every server connection of the app role",
    NETWORK_STALL: "every packet between clients and PgBouncer dropped (no reset), then restored",
    CREDENTIAL_CHANGE: "the app role's password changed and the token source switched to it; "
    "then PgBouncer drops every client (KILL/RESUME) so every environment reconnects",
    REPLICA_STOP: "the hot-standby replica behind the reader pool stopped (fast shutdown), "
    "then started again: reads fall back to the writer and return to the reader",
}


@dataclass
class FaultContext:
    """What a fault acts on."""

    pg: LocalPostgres
    bouncer: LocalPgBouncer
    role: str
    dbname: str
    token_file: Path
    netns: ClientNamespace | None
    stall_s: float
    pgbouncer_down_s: float
    # The reader drill's replica (behind the reader pool) and how long it stays down.
    replica: LocalReplica | None = None
    replica_down_s: float = 0.0
    # Called by a fault once it is fully in force (the drop rule installed), if later than its
    # start; recovery is measured from then.
    applied: Callable[[], None] = lambda: None


@dataclass
class FaultLog:
    """When the fault began and ended (seconds after the burst's t0) and what it did."""

    start_s: float | None = None
    applied_s: float | None = None
    end_s: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _pg_restart(ctx: FaultContext) -> dict[str, Any]:
    old = ctx.pg.pid
    ctx.pg.restart(mode="fast")
    return {"old_postmaster_pid": old, "new_postmaster_pid": ctx.pg.pid}


def _pgbouncer_restart(ctx: FaultContext) -> dict[str, Any]:
    old = ctx.bouncer.pid
    ctx.bouncer.kill_and_restart(down_s=ctx.pgbouncer_down_s)
    return {"old_pid": old, "new_pid": ctx.bouncer.pid, "down_s": ctx.pgbouncer_down_s}


def _terminate(ctx: FaultContext) -> dict[str, Any]:
    rows = ctx.pg.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = %s",
        (ctx.role,),
    )
    return {"terminated": int(rows[0][0])}


def _network_stall(ctx: FaultContext) -> dict[str, Any]:
    if ctx.netns is None:
        raise RuntimeError("no client namespace")
    ctx.netns.drop_all()
    ctx.applied()
    try:
        time.sleep(ctx.stall_s)
    finally:
        ctx.netns.restore()
    return {"stall_s": ctx.stall_s, "drop_rule": ctx.netns.drop_rule}


def _credential_change(ctx: FaultContext) -> dict[str, Any]:
    old = ctx.token_file.read_text().strip()
    new = secrets.token_urlsafe(18)
    with ctx.pg.connect() as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(ctx.role), sql.Literal(scram_sha256_verifier(new))
            )
        )
    tmp = ctx.token_file.with_suffix(".new")
    tmp.write_text(new)
    tmp.replace(ctx.token_file)  # atomic: a reader sees the old or the new credential
    time.sleep(0.5)
    admin = ctx.bouncer.conninfo(
        user=ctx.pg.superuser, password=ctx.pg.superuser_password, dbname="pgbouncer"
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'KILL "{ctx.dbname}"')
        conn.execute(f'RESUME "{ctx.dbname}"')
    return {"old_credential_refused": _refused(ctx, old), "clients_dropped": True}


def _refused(ctx: FaultContext, password: str) -> bool:
    try:
        psycopg.connect(
            ctx.pg.conninfo(user=ctx.role, password=password, dbname=ctx.dbname, connect_timeout=3)
        ).close()
    except psycopg.OperationalError as exc:
        return "password authentication failed" in str(exc)
    return False


def _replica_stop(ctx: FaultContext) -> dict[str, Any]:
    if ctx.replica is None:
        raise RuntimeError("no replica")
    old = ctx.replica.pid
    ctx.replica.halt(mode="fast")
    time.sleep(ctx.replica_down_s)
    ctx.replica.resume()
    return {
        "old_postmaster_pid": old,
        "new_postmaster_pid": ctx.replica.pid,
        "down_s": ctx.replica_down_s,
        "apply_delay_ms": ctx.replica.apply_delay_ms,
    }


ACTIONS: dict[str, Callable[[FaultContext], dict[str, Any]]] = {
    PG_RESTART: _pg_restart,
    PGBOUNCER_RESTART: _pgbouncer_restart,
    TERMINATE: _terminate,
    NETWORK_STALL: _network_stall,
    CREDENTIAL_CHANGE: _credential_change,
    REPLICA_STOP: _replica_stop,
}


class FaultTimer:
    """Injects one fault at ``at_s`` after the burst's t0, in a thread; join() waits for it."""

    def __init__(self, name: str, ctx: FaultContext, at_s: float) -> None:
        self.name, self.ctx, self.at_s = name, ctx, at_s
        self.log = FaultLog()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()

    def start(self, t0: float) -> None:
        self._thread = threading.Thread(target=self._run, args=(t0,), daemon=True, name="fault")
        self._thread.start()

    def _run(self, t0: float) -> None:
        if self._cancel.wait(max(0.0, t0 + self.at_s - time.monotonic())):
            return
        self.log.start_s = time.monotonic() - t0

        def applied() -> None:
            self.log.applied_s = time.monotonic() - t0

        self.ctx.applied = applied
        try:
            self.log.notes = ACTIONS[self.name](self.ctx)
        except Exception as exc:  # reported, and the run's figures say what happened
            self.log.error = f"{type(exc).__name__}: {exc}"
        self.log.end_s = time.monotonic() - t0

    def join(self, timeout: float) -> None:
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(timeout)
