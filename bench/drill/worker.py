"""The drill's worker process: its create-heavy environments, in the clients' namespace if any."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.drill.netns import enter_netns
from bench.worker import WorkerIpc, WorkerJob, serve

if TYPE_CHECKING:
    from bench.drill.client import DrillEnvironment


@dataclass(frozen=True)
class DrillWork:
    """Drill environments (bench.drill.client) for one fault; each reports its write ledger."""

    target: Any  # bench.workload.Target (kept Any so this module imports without orders)
    catalog: Any  # bench.workload.Catalog
    seed: int
    create_share: float
    max_attempts: int
    key_prefix: str
    netns: str | None = None  # the network namespace the clients run in (None: the host's)

    def run(self, job: WorkerJob, ipc: WorkerIpc) -> None:
        if self.netns:
            enter_netns(self.netns)  # before serve starts a thread: threads inherit it
        serve(job, ipc, self._environments, report=lambda env: env.report())

    def _environments(self, env_ids: Sequence[int]) -> list[DrillEnvironment]:
        from bench.drill.client import DrillEnvironment  # noqa: PLC0415  # heavy import

        return [
            DrillEnvironment(env_id=env_id, target=self.target, catalog=self.catalog,
                             seed=self.seed, create_share=self.create_share,
                             max_attempts=self.max_attempts, key_prefix=self.key_prefix)
            for env_id in env_ids
        ]  # fmt: skip
