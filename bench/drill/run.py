"""The drill: one PostgreSQL, a fresh PgBouncer per fault, a create-heavy burst, one fault each."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import settings as S
from bench.auth import IAM_LIKE, apply_auth_model
from bench.console import Progress, signals_raise
from bench.drill import faults as F
from bench.drill.ledger import (
    Attempts,
    credential_use,
    reads_summary,
    recovery,
    timeline,
    verify_ledger,
)
from bench.drill.netns import ClientNamespace, NetnsUnavailableError
from bench.drill.worker import DrillWork
from bench.engine import BurstEngine, BurstOutcome, BurstSpec, ReaderSide, Shape
from bench.machine import loadavg, machine_info
from bench.runner import drain
from bench.stats import activation_times
from localpg import READER_LOOPBACK, LocalPgBouncer, LocalPostgres, LocalReplica

# PgBouncer waits server_login_retry (default 15 s) after a failed server login before trying
# again: after a PostgreSQL restart that alone would be the recovery time. RDS Proxy has no such
# knob and reconnects to the new writer as soon as it answers; 1 s keeps the stand-in close.
PGBOUNCER_SETTINGS = {"server_login_retry": "1"}
# The fault's log, the burst's records, and the credential in force after the run.
FaultBurst = tuple[F.FaultTimer, BurstOutcome, str | None]


@dataclass(frozen=True)
class DrillSettings:
    concurrency: int = 150
    rate_rps: float = 300.0
    ramp_s: float = 2.0
    duration_s: float = 24.0
    fault_at_s: float = 8.0  # 6 s into the hold
    stall_s: float = 8.0
    pgbouncer_down_s: float = 1.0
    # The reader drill: how long the replica stays down, and its replication lag (apply delay).
    replica_down_s: float = 6.0
    apply_delay_ms: int = 1000
    create_share: float = 0.7
    max_attempts: int = 6
    workers: int = 2
    seed: int = 7
    faults: tuple[str, ...] = F.FAULTS
    out_dir: Path = S.RESULTS_DIR
    chart: bool = True
    progress: bool = True
    write_files: bool = True
    proxy: S.ProxyModel = field(default_factory=S.load_proxy_model)

    @property
    def pool_size(self) -> int:
        from stacks.budget import proxy_ceiling  # noqa: PLC0415

        return proxy_ceiling(100, self.proxy.max_connections_percent)

    def shape(self) -> Shape:
        start = max(1, self.concurrency // 10)
        return Shape(
            concurrency=self.concurrency,
            duration_s=self.duration_s,
            ramp_s=self.ramp_s,
            interval_s=self.concurrency / self.rate_rps,
            activation_s=tuple(activation_times(self.concurrency, start, self.ramp_s)),
        )


@dataclass
class Setup:
    pg: LocalPostgres
    target: Any  # bench.workload.Target (direct; password from token_file)
    catalog: Any
    token_file: Path
    netns: ClientNamespace | None
    netns_error: str | None


class Drill:
    def __init__(self, config: DrillSettings) -> None:
        self.config = config
        self.progress = Progress(config.progress)
        self.engine = BurstEngine(self.progress)

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        cfg = self.config
        workdir = Path(tempfile.mkdtemp(prefix="pgdrill-"))
        netns = ClientNamespace() if F.NETWORK_STALL in cfg.faults else None
        netns_error = _create_netns(netns)
        if netns_error:
            netns = None
        extra_ips = (netns.host_ip,) if netns else ()
        try:
            with (
                signals_raise(),
                LocalPostgres(max_connections=100, extra_cert_ips=extra_ips) as pg,
            ):
                setup = self._setup(pg, workdir, netns, netns_error)
                machine = machine_info(pg)
                results = [self._fault(setup, name) for name in cfg.faults]
                return self._result(machine, results, started)
        finally:
            if netns is not None:
                netns.cleanup()
            shutil.rmtree(workdir, ignore_errors=True)

    def _setup(self, pg: LocalPostgres, workdir: Path, netns: ClientNamespace | None,
               netns_error: str | None) -> Setup:  # fmt: skip
        from bench.workload import Target, migrate, seed_orders  # noqa: PLC0415

        model = self.config.proxy
        self.progress.line(
            f"PostgreSQL on 127.0.0.1:{pg.port}; migrating and seeding with the orders package"
        )
        pg.execute(f'CREATE DATABASE "{model.database_name}"')
        password = secrets.token_urlsafe(18)
        migrate(host=pg.host, port=pg.port, admin_user=pg.superuser,
                admin_password=pg.superuser_password, app_password=password,
                ca_cert=str(pg.ca_cert_path), model=model)  # fmt: skip
        apply_auth_model(pg, model.app_db_user, password, IAM_LIKE)
        token_file = workdir / "credential"
        token_file.write_text(password)
        target = Target(host=pg.host, port=pg.port, dbname=model.database_name,
                        user=model.app_db_user, password=password, ca_cert=str(pg.ca_cert_path),
                        connect_timeout_s=model.connect_timeout_s,
                        password_file=str(token_file))  # fmt: skip
        catalog = seed_orders(target, self.config.seed)
        drain(pg, model.app_db_user)
        return Setup(pg, target, catalog, token_file, netns, netns_error)

    def _fault(self, setup: Setup, name: str) -> dict[str, Any]:
        cfg = self.config
        if name == F.NETWORK_STALL and setup.netns is None:
            reason = setup.netns_error or "no network namespace"
            self.progress.line(f"[{name}] NOT RUN: {reason}")
            return {"name": name, "ran": False, "not_run_reason": reason}
        self.progress.line(f"[{name}] {F.DESCRIPTIONS[name]}: fault at t={cfg.fault_at_s:g} s")
        netns = setup.netns if name == F.NETWORK_STALL else None
        with contextlib.ExitStack() as stack:
            bouncer = stack.enter_context(self._pgbouncer(
                setup.pg, extra_listen_addrs=(netns.host_ip,) if netns else ()
            ))  # fmt: skip
            reader = self._reader(stack, setup.pg, bouncer) if name == F.REPLICA_STOP else None
            timer, outcome, new_credential = self._burst(setup, bouncer, name, netns, reader)
        drain(setup.pg, cfg.proxy.app_db_user)
        summary = self._summarise(setup, name, timer, outcome, new_credential)
        self.progress.line(one_line(summary))
        return summary

    def _pgbouncer(self, server: LocalPostgres, **where: Any) -> LocalPgBouncer:
        cfg = self.config
        return LocalPgBouncer(server, pool_size=cfg.pool_size, max_client_conn=5000,
                              borrow_timeout_s=cfg.proxy.borrow_timeout_s,
                              idle_client_timeout_s=cfg.proxy.idle_client_timeout_s,
                              extra_settings=PGBOUNCER_SETTINGS, **where)  # fmt: skip

    def _reader(self, stack: contextlib.ExitStack, pg: LocalPostgres,
                writer: LocalPgBouncer) -> ReaderSide:  # fmt: skip
        """The reader drill's replica (lagging by the apply delay) and its pool, at the writer
        pool's port on the reader address (where DbSettings.reader() points)."""
        replica = stack.enter_context(LocalReplica(pg, apply_delay_ms=self.config.apply_delay_ms))
        replica.wait_for_replay()
        pool = stack.enter_context(self._pgbouncer(replica, host=READER_LOOPBACK, port=writer.port))
        self.progress.line(
            f"[{F.REPLICA_STOP}] replica on 127.0.0.1:{replica.port} (apply delay "
            f"{replica.apply_delay_ms} ms), its pool on {pool.host}:{pool.port}"
        )
        return ReaderSide(replica, pool)

    def _burst(self, setup: Setup, bouncer: LocalPgBouncer, name: str,
               netns: ClientNamespace | None, reader: ReaderSide | None) -> FaultBurst:  # fmt: skip
        cfg = self.config
        host = netns.host_ip if netns else bouncer.host
        ctx = F.FaultContext(pg=setup.pg, bouncer=bouncer, role=cfg.proxy.app_db_user,
                             dbname=cfg.proxy.database_name, token_file=setup.token_file,
                             netns=netns, stall_s=cfg.stall_s,
                             pgbouncer_down_s=cfg.pgbouncer_down_s,
                             replica=reader.replica if reader else None,
                             replica_down_s=cfg.replica_down_s)  # fmt: skip
        timer = F.FaultTimer(name, ctx, cfg.fault_at_s)
        target = replace(setup.target.via(host, bouncer.port),
                         read_host=READER_LOOPBACK if reader else None)  # fmt: skip
        work = DrillWork(target=target, catalog=setup.catalog,
                         seed=cfg.seed, create_share=cfg.create_share,
                         max_attempts=cfg.max_attempts, key_prefix=f"drill-{name}",
                         netns=netns.name if netns else None)  # fmt: skip
        spec = BurstSpec(label=name, work=work, shape=cfg.shape(), workers=cfg.workers,
                         role=cfg.proxy.app_db_user)  # fmt: skip
        try:
            outcome = self.engine.run(setup.pg, spec, bouncer=bouncer, on_start=timer.start,
                                      reader=reader)  # fmt: skip
        finally:
            timer.join(cfg.stall_s + 30)
            if netns is not None:
                netns.restore()
        new = setup.token_file.read_text().strip() if name == F.CREDENTIAL_CHANGE else None
        return timer, outcome, new

    def _summarise(self, setup: Setup, name: str, timer: F.FaultTimer, outcome: BurstOutcome,
                   new_credential: str | None) -> dict[str, Any]:  # fmt: skip
        cfg = self.config
        attempts = Attempts.from_extras(outcome.extras, outcome.t0)
        log = timer.log
        start = log.applied_s or log.start_s or cfg.fault_at_s
        end = log.end_s if log.end_s is not None else start
        failures = attempts.failures()
        ledger = verify_ledger(setup.pg, cfg.proxy.database_name, f"drill-{name}", outcome.extras)
        summary: dict[str, Any] = {
            "name": name,
            "description": F.DESCRIPTIONS[name],
            "ran": log.start_s is not None and log.error is None,
            "fault_error": log.error,
            "fault_window_s": [round(start, 2), round(end, 2)],
            "fault_notes": log.notes,
            "requests": len(attempts.rows),
            "creates_attempted": sum(1 for row in attempts.rows if row[2] == "create"),
            **ledger,
            "failed_requests": failures,
            "failed_requests_total": sum(failures.values()),
            "failed_after_fault": attempts.failures(since=start),
            "unclassified_failures_sample": [
                m for extra in outcome.extras for m in extra["unclassified"]
            ][:5],
            "recovery_s": recovery(attempts, fault_start=start, fault_end=end,
                                   baseline_from=cfg.ramp_s + 1.0, run_end=cfg.duration_s),
            "peak_server_connections": max((c for _, c in outcome.samples), default=0),
            "server_connection_cap": cfg.pool_size,
            "connections_opened": outcome.connections_opened,
            "other_processes_cores": (outcome.cpu or {}).get("other_processes_cores"),
            "timeline": timeline(attempts, cfg.duration_s + 5),
        }  # fmt: skip
        if name == F.CREDENTIAL_CHANGE:
            summary["credentials"] = credential_use(
                outcome.extras, outcome.t0, start, new_credential
            )
        if name == F.REPLICA_STOP:
            summary["reads"] = self._reads(outcome, start, end)
        return summary

    def _reads(self, outcome: BurstOutcome, start: float, end: float) -> dict[str, Any]:
        cfg = self.config
        window = {"fault_start": start, "fault_end": end, "end_s": cfg.duration_s + 5}
        return {
            **reads_summary(outcome.extras, outcome.t0, **window),
            "reader_peak_server_connections": max(
                (c for _, c in outcome.reader_samples), default=0
            ),
            "apply_delay_ms": cfg.apply_delay_ms,
            "replica_down_s": cfg.replica_down_s,
        }

    def _result(self, machine: dict[str, Any], results: list[dict[str, Any]],
                started: float) -> dict[str, Any]:  # fmt: skip
        cfg = self.config
        return {
            "schema_version": 1,
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "settings": {
                "concurrency": cfg.concurrency,
                "rate_rps": cfg.rate_rps,
                "ramp_s": cfg.ramp_s,
                "duration_s": cfg.duration_s,
                "fault_at_s": cfg.fault_at_s,
                "stall_s": cfg.stall_s,
                "pgbouncer_down_s": cfg.pgbouncer_down_s,
                "create_share": cfg.create_share,
                "max_attempts": cfg.max_attempts,
                "pool_size": cfg.pool_size,
                "pgbouncer_settings": PGBOUNCER_SETTINGS,
                "proxy_model": cfg.proxy.__dict__,
                "workers": cfg.workers,
                "seed": cfg.seed,
            },
            "machine": {**machine, "loadavg_at_end": loadavg()},
            "wall_s": round(time.monotonic() - started, 1),
            "faults": results,
        }


def _create_netns(netns: ClientNamespace | None) -> str | None:
    if netns is None:
        return None
    try:
        netns.create()
    except NetnsUnavailableError as exc:
        return str(exc)
    return None


def one_line(fault: dict[str, Any]) -> str:
    rec = fault["recovery_s"]
    return (
        f"[{fault['name']}] done: {fault['requests']} requests, "
        f"{fault['acknowledged_writes']} acknowledged creates, {fault['rows_found']} found, "
        f"lost {fault['lost_acknowledged_writes']}, duplicates {fault['duplicate_rows']}, "
        f"failed {fault['failed_requests']}, recovery {rec['to_first_success']} s to first "
        f"success / {rec['to_old_throughput']} s to old throughput, peak server connections "
        f"{fault['peak_server_connections']}"
    )
