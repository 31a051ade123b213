"""The read-split scenario: one read-heavy load through the writer alone and with a reader."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from typing import Any

from bench import settings as S
from bench.console import Progress
from bench.engine import BurstEngine, BurstSpec, ReaderSide, Shape
from bench.reader import SERVED_KEYS
from bench.repeat import read_split_verdict
from bench.results import ScenarioRun, back_to_back_pairs, paired_ratios, path_summary
from bench.runner import Prepared, drain, pgbouncer_for, scenario_run, steady_shape
from bench.stats import spread
from bench.worker import ReadSplitWork
from localpg import READER_LOOPBACK, LocalPostgres, LocalReplica

PATHS = (S.SPLIT_WRITER_ONLY, S.SPLIT_WITH_READER)


@dataclass(frozen=True)
class SplitRound:
    run: ScenarioRun  # the writer's side: records, its pool's server connections (samples)
    reader_samples: list[tuple[float, int]]  # the replica's app-role server connections
    served: dict[str, int]  # who answered the reads


def peak(samples: list[tuple[float, int]]) -> int:
    return max((count for _, count in samples), default=0)


class ReadSplit:
    """Rounds in ABBA order over one replica, each with fresh pools (so each round's peak is
    what that load needs): "writer only" runs without DB_READ_HOST, so ``orders.runtime``'s
    reader is the writer; "with reader" sets it, and reads go through ``orders.reads`` to a
    second PgBouncer in front of the replica. The writer's peak server connections, errors and
    warm latencies go side by side."""

    def __init__(self, config: S.BenchSettings, engine: BurstEngine, progress: Progress) -> None:
        self.config, self.engine, self.progress = config, engine, progress

    def run(self, pg: LocalPostgres, prepared: Prepared) -> dict[str, Any]:
        started = time.monotonic()
        cfg = self.config
        shape = steady_shape(cfg.read_split_concurrency, cfg.hold_rps, cfg.read_split_duration_s)
        self.progress.line(
            f"== read split: {shape.concurrency} environments, ~{cfg.hold_rps:g} req/s, "
            f"{S.READ_SPLIT_MIX}, rounds {', '.join(cfg.read_split_order)} =="
        )
        order = cfg.read_split_order
        with LocalReplica(pg) as replica:
            replica.wait_for_replay()
            servers = (pg, replica)
            rounds = [
                self._round(servers, prepared, name, shape, f"{i + 1}/{len(order)}")
                for i, name in enumerate(order)
            ]
        return self._summary(rounds, prepared, time.monotonic() - started)

    def _round(self, servers: tuple[LocalPostgres, LocalReplica], prepared: Prepared, name: str,
               shape: Shape, tag: str) -> SplitRound:  # fmt: skip
        cfg = self.config
        pg, replica = servers
        with_reader = name == S.SPLIT_WITH_READER
        with contextlib.ExitStack() as stack:
            writer = stack.enter_context(pgbouncer_for(cfg, pg, shape.concurrency))
            reader = None
            if with_reader:
                reader = stack.enter_context(pgbouncer_for(
                    cfg, replica, shape.concurrency, host=READER_LOOPBACK, port=writer.port
                ))  # fmt: skip
            target = replace(
                prepared.direct.via(writer.host, writer.port),
                read_host=READER_LOOPBACK if with_reader else None,
            )
            spec = BurstSpec(label=f"read-split {tag}", shape=shape, workers=cfg.workers,
                             work=ReadSplitWork(target, prepared.catalog, cfg.seed),
                             role=cfg.proxy.app_db_user)  # fmt: skip
            # The replica runs (and replays the writes) in both paths: its CPU is counted in both.
            outcome = self.engine.run(pg, spec, bouncer=writer, reader=ReaderSide(replica, reader))
        drain(pg, cfg.proxy.app_db_user)
        drain(replica, cfg.proxy.app_db_user)
        served = dict.fromkeys(SERVED_KEYS, 0)
        for counts in outcome.extras:
            for key, count in counts.items():
                served[key] += count
        split = SplitRound(scenario_run(name, shape, outcome, cap=cfg.pool_size),
                           outcome.reader_samples, served)  # fmt: skip
        self.progress.line(one_line(split, tag))
        return split

    def _path(self, name: str, rounds: list[SplitRound]) -> dict[str, Any]:
        cfg = self.config
        measured_s = cfg.read_split_duration_s - cfg.read_split_warmup_s
        path = path_summary(name, [r.run for r in rounds], cfg.read_split_warmup_s, measured_s,
                            cfg.pool_size)  # fmt: skip
        reads = dict.fromkeys(SERVED_KEYS, 0)
        for r in rounds:
            for key, count in r.served.items():
                reads[key] += count
        return {
            **path,
            "round_peak_server_connections": [peak(r.run.samples) for r in rounds],
            "reader_peak_server_connections": max(peak(r.reader_samples) for r in rounds),
            "round_reader_peak_server_connections": [peak(r.reader_samples) for r in rounds],
            "connections_opened": sum(r.run.connections_opened for r in rounds),
            "reads": reads,
        }

    def _summary(self, rounds: list[SplitRound], prepared: Prepared,
                 wall_s: float) -> dict[str, Any]:  # fmt: skip
        cfg = self.config
        runs = [r.run for r in rounds]
        paths = [self._path(name, [r for r in rounds if r.run.name == name]) for name in PATHS]
        errors = {path["name"]: sum(path["errors"].values()) for path in paths}
        pairs = back_to_back_pairs(runs, *PATHS)
        pair_peaks = [[peak(a.samples), peak(b.samples)] for a, b in pairs]
        ratios = paired_ratios(runs, cfg.read_split_warmup_s, base=PATHS[0], other=PATHS[1])
        reader_settings = replace(prepared.direct, read_host=READER_LOOPBACK).db_settings().reader()
        return {
            "concurrency": cfg.read_split_concurrency,
            "rate_rps": round(cfg.hold_rps, 1),
            "per_environment_interval_s": round(cfg.read_split_concurrency / cfg.hold_rps, 4),
            "duration_s": cfg.read_split_duration_s,
            "warmup_s": cfg.read_split_warmup_s,
            "mix": S.READ_SPLIT_MIX,
            "reader": {
                "host": READER_LOOPBACK,
                "port": "the writer pool's (DbSettings.reader() changes the host only)",
                "sslmode": reader_settings.sslmode if reader_settings else None,
                "replica_apply_delay_ms": 0,
                "pool_size": cfg.pool_size,
            },
            "order": [run.name for run in runs],
            "paths": paths,
            "pair_writer_peaks": pair_peaks,
            "pair_p99_ratios": ratios,
            "p99_ratio_spread": spread(ratios),
            "verdict": read_split_verdict(pair_peaks, errors[PATHS[0]], errors[PATHS[1]]),
            "wall_s": round(wall_s, 1),
        }


def one_line(split: SplitRound, tag: str) -> str:
    run = split.run
    _, tally, ok = run.measured(0.0)
    return (
        f"[read-split {tag} {run.name}] {ok} ok, {sum(tally.kinds.values())} errors, writer "
        f"peak {peak(run.samples)}, reader peak {peak(split.reader_samples)}, reads "
        f"{split.served}"
    )
