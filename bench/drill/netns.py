"""A network namespace and veth pair for the silent-stall fault, and the drop rule on it.

The drill's clients run in their own namespace and reach the pooler over a veth pair, so a
rule on that pair can drop every packet between clients and pooler: no RST, no ICMP, the
peers just stop hearing each other (what a dead host or a black-holed route looks like).
The preferred rule is ``tc qdisc ... netem loss 100%``; kernels built without sch_netem (this
one: CONFIG_NET_SCH_NETEM is not set) get a token bucket filter whose bucket (1 byte) is smaller
than any packet, which tbf drops silently. Everything is created with ``ip``/``tc`` and deleted
on exit, Ctrl-C or SIGTERM (by the drill's cleanup path).
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass, field

NETEM = ("netem", "loss", "100%")
# rate is irrelevant: a packet larger than the 1-byte bucket is dropped at enqueue.
TBF_DROP = ("tbf", "rate", "8kbit", "burst", "1", "limit", "1")
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"  # where `ip netns add` names a namespace


def enter_netns(name: str) -> None:
    """Move this thread (a worker, before it starts threads) into the named network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


class NetnsUnavailableError(RuntimeError):
    """This machine cannot run the network fault (not root, no ip/tc, no netns or qdisc)."""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False)


def _used_addresses() -> set[str]:
    out = _run("ip", "-4", "-o", "addr", "show").stdout
    return {part.split("/")[0] for line in out.splitlines() for part in line.split()[3:4]}


def _pick_subnet() -> tuple[str, str]:
    used = _used_addresses()
    for third in range(os.getpid() % 200, 256):
        net = ipaddress.ip_network(f"10.213.{third}.0/30")
        host, peer = (str(ip) for ip in net.hosts())
        if host not in used and peer not in used:
            return host, peer
    raise NetnsUnavailableError("no free 10.213.x.0/30 subnet for the veth pair")


@dataclass
class ClientNamespace:
    """netns ``name`` holding the clients' end (``peer_ip``); the host end is ``host_ip``."""

    name: str = field(default_factory=lambda: f"pgdrill{os.getpid()}")
    host_ip: str = ""
    peer_ip: str = ""
    drop_rule: str = ""
    _host_dev: str = ""
    _peer_dev: str = ""
    _created: bool = False
    _dropping: bool = False

    def __post_init__(self) -> None:
        pid = os.getpid() % 100000
        self._host_dev, self._peer_dev = f"pgdh{pid}", f"pgdn{pid}"

    def create(self) -> None:
        """Build the namespace and the veth pair; NetnsUnavailableError says why not."""
        if os.geteuid() != 0:
            raise NetnsUnavailableError("needs root (ip netns, veth, tc)")
        for tool in ("ip", "tc"):
            if shutil.which(tool) is None:
                raise NetnsUnavailableError(f"'{tool}' (iproute2) is not installed")
        self.host_ip, self.peer_ip = _pick_subnet()
        self._created = True  # from here on, cleanup() removes whatever exists
        steps = [
            ("ip", "netns", "add", self.name),
            ("ip", "link", "add", self._host_dev, "type", "veth", "peer", "name", self._peer_dev),
            ("ip", "link", "set", self._peer_dev, "netns", self.name),
            ("ip", "addr", "add", f"{self.host_ip}/30", "dev", self._host_dev),
            ("ip", "link", "set", self._host_dev, "up"),
            ("ip", "-n", self.name, "addr", "add", f"{self.peer_ip}/30", "dev", self._peer_dev),
            ("ip", "-n", self.name, "link", "set", self._peer_dev, "up"),
            ("ip", "-n", self.name, "link", "set", "lo", "up"),
        ]
        for step in steps:
            out = _run(*step)
            if out.returncode != 0:
                self.cleanup()
                raise NetnsUnavailableError(f"`{' '.join(step)}` failed: {out.stderr.strip()}")
        self.drop_rule = self._probe_drop_rule()

    def _qdisc(
        self, action: str, rule: tuple[str, ...], *, peer: bool
    ) -> subprocess.CompletedProcess[str]:
        prefix = ("ip", "netns", "exec", self.name) if peer else ()
        dev = self._peer_dev if peer else self._host_dev
        return _run(*prefix, "tc", "qdisc", action, "dev", dev, "root", *rule)

    def _probe_drop_rule(self) -> str:
        """netem if the kernel has it, else the 1-byte tbf; tried once here, then removed."""
        reasons = []
        for rule in (NETEM, TBF_DROP):
            out = self._qdisc("add", rule, peer=False)
            if out.returncode == 0:
                self._qdisc("del", (), peer=False)
                return " ".join(rule)
            reasons.append(f"{rule[0]}: {out.stderr.strip()}")
        self.cleanup()
        raise NetnsUnavailableError("no qdisc can drop packets here (" + "; ".join(reasons) + ")")

    def drop_all(self) -> None:
        """Drop every packet both ways on the veth pair (silently: no reset, no ICMP)."""
        rule = tuple(self.drop_rule.split())
        for peer in (False, True):
            out = self._qdisc("add", rule, peer=peer)
            if out.returncode != 0:
                raise RuntimeError(f"tc qdisc add failed: {out.stderr.strip()}")
        self._dropping = True

    def restore(self) -> None:
        if self._dropping:
            for peer in (False, True):
                self._qdisc("del", (), peer=peer)
            self._dropping = False

    def cleanup(self) -> None:
        """Remove the rule, the veth pair and the namespace (idempotent, never raises)."""
        if not self._created:
            return
        with contextlib.suppress(Exception):
            self.restore()
        _run("ip", "link", "del", self._host_dev)
        _run("ip", "netns", "del", self.name)
        self._created = False
