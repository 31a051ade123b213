"""Start a throwaway PostgreSQL, its hot-standby replica and PgBouncers on loopback, with TLS,
and stop them by PID.

Both servers refuse to run as root, so when the caller is root they run as the ``postgres`` OS
user. TLS uses a test CA generated per run, so clients can connect with ``sslmode=verify-full``
exactly as the Lambda functions do against RDS Proxy (where the CA is Amazon Root CA 1).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg.conninfo import make_conninfo

LOOPBACK = "127.0.0.1"
# Where a read-only pool listens: a second loopback address at the writer pool's port. The
# functions' reader settings keep the writer's port and change the host (orders.settings
# DbSettings.reader(); on AWS both proxy endpoints listen on 5432), and the test certificate names
# 127.0.0.1 only, so, like a custom proxy endpoint's name, this address is not on it: verify-ca
# holds there and verify-full does not.
READER_LOOPBACK = "127.0.0.2"
SERVICE_USER = "postgres"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
# PgBouncer looks each login up in pg_shadow, so a changed password is seen at the next connect.
AUTH_QUERY = "SELECT usename, passwd FROM pg_shadow WHERE usename = $1"


class MissingBinaryError(RuntimeError):
    """A server binary the harness needs is not installed."""


def find_pg_bindir(*, tools: tuple[str, ...] = ()) -> Path:
    """Where initdb/pg_ctl/postgres (and ``tools``, e.g. pg_basebackup) live: $LOCALPG_BINDIR,
    the newest Debian cluster, or PATH."""
    override = os.environ.get("LOCALPG_BINDIR")
    candidates = (
        [Path(override)]
        if override
        else sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
    )
    on_path = shutil.which("pg_ctl")
    if on_path and not override:
        candidates.append(Path(on_path).parent)
    names = ("initdb", "pg_ctl", "postgres", *tools)
    for bindir in candidates:
        if all((bindir / name).is_file() for name in names):
            return bindir
    raise MissingBinaryError(
        f"PostgreSQL server binaries ({', '.join(names)}) not found: install the Debian "
        "package 'postgresql' (bash .ci/run does) or set LOCALPG_BINDIR"
    )


def find_pgbouncer() -> Path:
    """The pgbouncer binary: $LOCALPG_PGBOUNCER, PATH, or /usr/sbin/pgbouncer."""
    override = os.environ.get("LOCALPG_PGBOUNCER")
    for candidate in (override, shutil.which("pgbouncer"), "/usr/sbin/pgbouncer"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise MissingBinaryError(
        "pgbouncer not found: install the Debian package 'pgbouncer' (bash .ci/run does) "
        "or set LOCALPG_PGBOUNCER"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def pid_alive(pid: int) -> bool:
    """Whether a process runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state letter follows the parenthesised command name, which may itself hold spaces.
    return stat.rpartition(")")[2].split()[0] != "Z"


def _wait_for_port(
    port: int, deadline: float, process: subprocess.Popen[bytes] | None, *, host: str = LOOPBACK
) -> bool:
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


class _ServiceAccount:
    """Who the servers run as: the caller, or the postgres OS user when the caller is root."""

    def __init__(self) -> None:
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(SERVICE_USER)
            except KeyError as exc:
                raise MissingBinaryError(
                    f"running as root needs the '{SERVICE_USER}' OS user (the Debian package "
                    "'postgresql' creates it): PostgreSQL and PgBouncer refuse to run as root"
                ) from exc
            self.uid: int | None = entry.pw_uid
            self.gid: int | None = entry.pw_gid
        else:
            self.uid = self.gid = None

    def popen_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own(self, *paths: Path) -> None:
        if self.uid is None or self.gid is None:
            return
        for path in paths:
            os.chown(path, self.uid, self.gid)

    def run(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - fixed binaries, no shell
            args, check=True, capture_output=True, text=True, **self.popen_kwargs(), **kwargs
        )


def _make_test_ca(
    directory: Path, account: _ServiceAccount, extra_ips: tuple[str, ...] = ()
) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for localhost/127.0.0.1 (+ ``extra_ips``); (ca, cert, key)."""
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    names = ",".join(["DNS:localhost", f"IP:{LOOPBACK}", *(f"IP:{ip}" for ip in extra_ips)])
    ext.write_text(
        f"subjectAltName={names}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    openssl = shutil.which("openssl")
    if openssl is None:
        raise MissingBinaryError("openssl not found: needed to make the test CA")
    # P-256 keys, as RDS's ECC CA (rds-ca-ecc384-g1) issues ECDSA certificates too: TLS and
    # verify-full work as with RSA, and a key costs microseconds, not a tenth of a second each
    # (two per server started).
    ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    steps = [
        [openssl, "req", "-x509", *ec_key, "-nodes", "-keyout", str(ca_key),
         "-out", str(ca_crt), "-days", "2", "-subj", "/CN=localpg test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        [openssl, "req", *ec_key, "-nodes", "-keyout", str(key), "-out", str(csr),
         "-subj", "/CN=localhost"],
        [openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
         "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext)],
    ]  # fmt: skip
    for step in steps:
        subprocess.run(step, check=True, capture_output=True)  # noqa: S603
    key.chmod(0o600)
    account.own(key, crt, ca_crt)
    return ca_crt, crt, key


class _Server:
    """Shared lifecycle: a private base directory, start/stop, context manager, atexit safety."""

    name = "server"

    def __init__(self) -> None:
        self.host = LOOPBACK
        self.port = 0
        self.pid: int | None = None
        self._base: Path | None = None
        self._registered = False

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _register_cleanup(self) -> None:
        # An interrupted test session or bench still stops what it started.
        if not self._registered:
            atexit.register(self.stop)
            self._registered = True

    def _kill_pid(self) -> None:
        if self.pid is None:
            return
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            deadline = time.monotonic() + wait
            while pid_alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not pid_alive(self.pid):
                break
        self.pid = None

    def _log_tail(self, log: Path, lines: int = 20) -> str:
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class LocalPostgres(_Server):
    """A throwaway PostgreSQL cluster on 127.0.0.1 with scram-sha-256 and TLS only.

    ``max_connections`` defaults to 100, like a small RDS instance; 3 of them are reserved for
    superusers, as on any PostgreSQL.
    """

    name = "postgres"

    def __init__(
        self,
        *,
        max_connections: int = 100,
        require_tls: bool = True,
        settings: dict[str, str] | None = None,
        extra_cert_ips: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.max_connections = max_connections
        # Addresses besides 127.0.0.1 the test certificate is valid for (a drill's veth address,
        # so clients in a network namespace can verify-full a pooler listening there).
        self.extra_cert_ips = extra_cert_ips
        self.require_tls = require_tls
        self.settings = dict(settings or {})
        self.superuser = SERVICE_USER
        self.superuser_password = secrets.token_urlsafe(18)
        self.bindir = find_pg_bindir()
        self.ca_cert_path = Path()
        self.cert_path = Path()
        self.key_path = Path()
        self._account = _ServiceAccount()
        self._data: Path | None = None
        self._log: Path | None = None

    @property
    def data_dir(self) -> Path:
        if self._data is None:
            raise RuntimeError("LocalPostgres is not started")
        return self._data

    def start(self) -> Self:
        if self.pid is not None:
            return self
        self._base = Path(tempfile.mkdtemp(prefix="localpg-"))
        self._base.chmod(0o755)
        self._account.own(self._base)
        self._data = self._base / "data"
        self._log = self._base / "postgres.log"
        self._log.touch()
        pwfile = self._base / "pwfile"
        pwfile.write_text(self.superuser_password + "\n")
        self._account.own(pwfile, self._log)
        self.ca_cert_path, self.cert_path, self.key_path = _make_test_ca(
            self._base, self._account, self.extra_cert_ips
        )
        self._account.run(
            [str(self.bindir / "initdb"), "-D", str(self._data), "-U", self.superuser,
             "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C",
             "--no-sync"]
        )  # fmt: skip
        pwfile.unlink()
        self.port = free_port()
        conf = {
            "listen_addresses": f"'{LOOPBACK}'",
            "port": str(self.port),
            "max_connections": str(self.max_connections),
            "unix_socket_directories": f"'{self._base}'",
            "password_encryption": "'scram-sha-256'",
            "ssl": "on",
            "ssl_cert_file": f"'{self.cert_path}'",
            "ssl_key_file": f"'{self.key_path}'",
            # A disposable cluster: durability costs time and buys nothing here.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "'128MB'",
            # Who sent each logged line: statement logging (the pinning test) filters on it.
            "log_line_prefix": "'%m [%p] user=%u db=%d app=%a '",
            **self.settings,
        }
        with (self._data / "postgresql.conf").open("a") as fh:
            fh.write("\n# localpg\n")
            fh.writelines(f"{key} = {value}\n" for key, value in conf.items())
        # Replication connections match no "all" database: the line lets a LocalReplica's
        # pg_basebackup and walreceiver (superuser, TLS) in.
        hba = [
            "local all all scram-sha-256",
            f"hostssl all all {LOOPBACK}/32 scram-sha-256",
            f"hostssl replication {self.superuser} {LOOPBACK}/32 scram-sha-256",
        ]
        hba.append(
            f"hostnossl all all {LOOPBACK}/32 reject"
            if self.require_tls
            else f"hostnossl all all {LOOPBACK}/32 scram-sha-256"
        )
        (self._data / "pg_hba.conf").write_text("\n".join(hba) + "\n")
        self._register_cleanup()
        self._pg_ctl_start()
        return self

    def _pg_ctl_start(self) -> None:
        data, log = self.data_dir, self._log or Path("/dev/null")
        try:
            self._account.run(
                [str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(log),
                 "-w", "-t", str(int(START_TIMEOUT_S)), "start"]
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            tail = self._log_tail(log)
            self.stop()
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n{tail}") from exc
        self.pid = int((data / "postmaster.pid").read_text().splitlines()[0])

    def restart(self, *, mode: str = "fast", down_s: float = 0.0) -> None:
        """Stop (``pg_ctl -m fast``: connections are cut, no reset of data) and start again.

        Same data directory and port, a new postmaster pid: what clients see in a failover
        or a reboot. ``down_s`` keeps the server down that long between stop and start.
        """
        self.halt(mode=mode)
        if down_s > 0:
            time.sleep(down_s)
        self.resume()

    def halt(self, *, mode: str = "fast") -> None:
        """Stop the server and keep its data directory and port (``resume`` starts it again)."""
        if self.pid is None or self._data is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        self._account.run(
            [str(self.bindir / "pg_ctl"), "-D", str(self._data), "-m", mode, "-w",
             "-t", str(int(STOP_TIMEOUT_S)), "stop"]
        )  # fmt: skip
        self.pid = None

    def resume(self) -> None:
        """Start a halted server again: same data, same port, a new postmaster pid."""
        if self._data is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        if self.pid is None:
            self._pg_ctl_start()

    def stop(self) -> None:
        if self.pid is not None and self._data is not None:
            try:
                self._account.run(
                    [str(self.bindir / "pg_ctl"), "-D", str(self._data), "-m", "fast", "-w",
                     "-t", str(int(STOP_TIMEOUT_S)), "stop"]
                )  # fmt: skip
                self.pid = None
            except subprocess.CalledProcessError:
                self._kill_pid()
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None
            self._data = None

    def conninfo(
        self,
        *,
        user: str | None = None,
        password: str | None = None,
        dbname: str = "postgres",
        port: int | None = None,
        **extra: Any,
    ) -> str:
        """A libpq connection string with TLS verified against the test CA."""
        params: dict[str, Any] = {
            "host": self.host,
            "port": port or self.port,
            "user": user or self.superuser,
            "password": password if user else (password or self.superuser_password),
            "dbname": dbname,
            "sslmode": "verify-full",
            "sslrootcert": str(self.ca_cert_path),
        }
        params.update(extra)
        return make_conninfo(**params)

    def connect(self, *, dbname: str = "postgres") -> psycopg.Connection[tuple[Any, ...]]:
        """A superuser connection in autocommit mode (for setup and observation)."""
        return psycopg.connect(self.conninfo(dbname=dbname, connect_timeout=5), autocommit=True)

    def execute(
        self, sql: str, params: tuple[Any, ...] | None = None, *, dbname: str = "postgres"
    ) -> list[tuple[Any, ...]]:
        """Run one statement as superuser; returns its rows (empty for statements without)."""
        with self.connect(dbname=dbname) as conn, conn.cursor() as cur:
            cur.execute(sql.encode(), params)
            return cur.fetchall() if cur.description else []

    def client_backends(self, *, exclude_pid: int | None = None) -> int:
        """Server connections from clients right now, as pg_stat_activity sees them."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> %s",
                (exclude_pid if exclude_pid is not None else conn.info.backend_pid,),
            ).fetchone()
        return int(row[0]) if row else 0

    @property
    def log_path(self) -> Path | None:
        return self._log


class LocalReplica(LocalPostgres):
    """A hot-standby replica of a LocalPostgres: the stand-in for an Aurora reader.

    Built with ``pg_basebackup`` from the primary on 127.0.0.1 (a physical replication slot keeps
    the WAL it has not received, so a halted replica catches up on ``resume``), then streaming
    replication over TLS (verify-full against the test CA) with ``hot_standby = on``: it answers
    reads and refuses writes. ``apply_delay_ms`` sets ``recovery_min_apply_delay``: a commit
    becomes visible on the replica that long after the primary's, a steady replica lag. Roles
    and passwords replicate, so the primary's superuser and app roles log in here too (a pooler's
    ``auth_query`` works). Same certificate as the primary; stopped by PID like it.
    """

    name = "replica"

    def __init__(
        self,
        primary: LocalPostgres,
        *,
        apply_delay_ms: int = 0,
        settings: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            max_connections=primary.max_connections,
            require_tls=primary.require_tls,
            settings=settings,
        )
        if apply_delay_ms < 0:
            raise ValueError(f"apply_delay_ms={apply_delay_ms} must be >= 0")
        self.primary = primary
        self.apply_delay_ms = apply_delay_ms
        self.superuser_password = primary.superuser_password
        self.bindir = find_pg_bindir(tools=("pg_basebackup",))
        self.slot = f"localpg_replica_{secrets.token_hex(4)}"

    def start(self) -> Self:
        if self.pid is not None:
            return self
        if self.primary.pid is None:
            raise RuntimeError("the primary LocalPostgres is not running")
        self._base = Path(tempfile.mkdtemp(prefix="localpg-replica-"))
        self._base.chmod(0o755)
        self._account.own(self._base)
        self._data = self._base / "data"
        self._log = self._base / "postgres.log"
        self._log.touch()
        self._account.own(self._log)
        self.ca_cert_path, self.cert_path, self.key_path = (
            self._copy(self.primary.ca_cert_path),
            self._copy(self.primary.cert_path),
            self._copy(self.primary.key_path),
        )
        self.key_path.chmod(0o600)
        self._register_cleanup()
        try:
            self._base_backup()
        except subprocess.CalledProcessError as exc:
            self.stop()
            raise RuntimeError(f"pg_basebackup failed: {exc.stderr}") from exc
        self.port = free_port()
        self._configure()
        self._pg_ctl_start()
        return self

    def _copy(self, source: Path) -> Path:
        target = (self._base or Path()) / source.name
        shutil.copyfile(source, target)
        self._account.own(target)
        return target

    def _primary_conninfo(self) -> str:
        # No client certificate: without these libpq looks in ~/.postgresql, and when root runs
        # the servers as the postgres user, HOME is root's and unreadable (EACCES fails the
        # connect; a file that does not exist is skipped).
        none = str((self._base or Path()) / "no-client-cert")
        return self.primary.conninfo(
            sslrootcert=str(self.ca_cert_path), sslcert=none, sslkey=none,
            application_name=self.slot,
        )  # fmt: skip

    def _base_backup(self) -> None:
        # -C -S: create the slot with the backup, so no WAL is recycled before the replica
        # streams it; -X stream: the backup carries the WAL it needs to be consistent.
        self._account.run(
            [str(self.bindir / "pg_basebackup"), "-D", str(self.data_dir),
             "-d", self._primary_conninfo(), "-X", "stream", "-C", "-S", self.slot,
             "--no-sync", "-c", "fast"]
        )  # fmt: skip

    def _configure(self) -> None:
        # Appended after the primary's copied settings: the last occurrence wins.
        conninfo = self._primary_conninfo().replace("'", "''")
        conf = {
            "port": str(self.port),
            "unix_socket_directories": f"'{self._base}'",
            "ssl_cert_file": f"'{self.cert_path}'",
            "ssl_key_file": f"'{self.key_path}'",
            "hot_standby": "on",
            "primary_conninfo": f"'{conninfo}'",
            "primary_slot_name": f"'{self.slot}'",
            "recovery_min_apply_delay": f"'{self.apply_delay_ms}ms'",
            **self.settings,
        }
        with (self.data_dir / "postgresql.conf").open("a") as fh:
            fh.write("\n# localpg replica\n")
            fh.writelines(f"{key} = {value}\n" for key, value in conf.items())
        signal_file = self.data_dir / "standby.signal"
        signal_file.touch()
        self._account.own(signal_file)

    def stop(self) -> None:
        super().stop()
        # The slot would hold WAL on the primary for ever; gone with the replica.
        if self.primary.pid is not None:
            with contextlib.suppress(psycopg.Error):
                self.primary.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                    "WHERE slot_name = %s AND NOT active",
                    (self.slot,),
                )

    def wait_for_replay(self, timeout_s: float = 30.0) -> float:
        """Wait until every commit the primary has made so far is applied here (apply delay
        included); returns the seconds it took."""
        started = time.monotonic()
        # A marker commit: a transaction with an xid writes a commit record stamped with its
        # commit time, and the replica reports the stamp of the last one it replayed. (WAL
        # positions would not do: after the backup's WAL switch the insert position sits past
        # a page header that no replayed record ends at.)
        with self.primary.connect() as conn, conn.transaction():
            conn.execute("SELECT pg_current_xact_id()")
            row = conn.execute("SELECT clock_timestamp()").fetchone()
        marker = row[0] if row else None
        deadline = started + timeout_s
        with self.connect() as conn:
            while True:
                replayed = conn.execute(
                    "SELECT coalesce(pg_last_xact_replay_timestamp() >= %s, false)", (marker,)
                ).fetchone()
                if replayed and replayed[0]:
                    return time.monotonic() - started
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the replica did not replay the primary's commits "
                                       f"in {timeout_s} s")  # fmt: skip
                time.sleep(0.02)


class LocalPgBouncer(_Server):
    """PgBouncer in front of a LocalPostgres: the stand-in for RDS Proxy.

    Transaction pooling with at most ``pool_size`` server connections in all
    (``max_db_connections``, like the proxy's MaxConnectionsPercent ceiling), TLS to clients with
    the same test CA and verified TLS to the server. Users are looked up with ``auth_query`` on
    every login, so a changed password (our stand-in for a rotated IAM token) takes effect for new
    connections.
    ``query_wait_timeout`` plays the proxy's ConnectionBorrowTimeout.
    """

    name = "pgbouncer"

    def __init__(
        self,
        postgres: LocalPostgres,
        *,
        pool_size: int = 20,
        pool_mode: str = "transaction",
        max_client_conn: int = 5000,
        borrow_timeout_s: int = 120,
        idle_client_timeout_s: int = 1800,
        extra_listen_addrs: tuple[str, ...] = (),
        extra_settings: dict[str, str] | None = None,
        host: str = LOOPBACK,
        port: int | None = None,
    ) -> None:
        super().__init__()
        # A reader pool listens on READER_LOOPBACK at the writer pool's port (see there).
        self.host = host
        self._requested_port = port
        self.postgres = postgres
        self.extra_settings = dict(extra_settings or {})
        # Besides 127.0.0.1 (a drill's veth address; the certificate must name it too).
        self.extra_listen_addrs = extra_listen_addrs
        self.pool_size = pool_size
        self.pool_mode = pool_mode
        self.max_client_conn = max_client_conn
        self.borrow_timeout_s = borrow_timeout_s
        self.idle_client_timeout_s = idle_client_timeout_s
        self.binary = find_pgbouncer()
        self._account = _ServiceAccount()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None
        self._ini = Path()

    def start(self) -> Self:
        if self.pid is not None:
            return self
        self._base = Path(tempfile.mkdtemp(prefix="localpgbouncer-"))
        self._base.chmod(0o755)
        self.port = self._requested_port or free_port()
        self._log = self._base / "pgbouncer.log"
        self._log.touch()
        self._ini = self._write_config(self._base)
        self._register_cleanup()
        self._spawn()
        return self

    def _write_config(self, base: Path) -> Path:
        pg = self.postgres
        userlist = base / "userlist.txt"
        userlist.write_text(f'"{pg.superuser}" "{pg.superuser_password}"\n')
        userlist.chmod(0o600)
        settings = {
            "listen_addr": ",".join((self.host, *self.extra_listen_addrs)),
            "listen_port": self.port,
            "unix_socket_dir": "",
            "auth_type": "scram-sha-256",
            "auth_file": userlist,
            "auth_user": pg.superuser,
            "auth_query": AUTH_QUERY,
            "pool_mode": self.pool_mode,
            "default_pool_size": self.pool_size,
            "max_db_connections": self.pool_size,
            "reserve_pool_size": 0,
            "max_client_conn": self.max_client_conn,
            "query_wait_timeout": self.borrow_timeout_s,
            "client_idle_timeout": self.idle_client_timeout_s,
            "server_tls_sslmode": "verify-full",
            "server_tls_ca_file": pg.ca_cert_path,
            "client_tls_sslmode": "require",
            "client_tls_key_file": pg.key_path,
            "client_tls_cert_file": pg.cert_path,
            "client_tls_ca_file": pg.ca_cert_path,
            "admin_users": pg.superuser,
            "ignore_startup_parameters": "extra_float_digits",
            "logfile": self._log,
            "log_connections": 0,
            "log_disconnections": 0,
            **self.extra_settings,
        }
        ini = base / "pgbouncer.ini"
        ini.write_text(
            f"[databases]\n* = host={pg.host} port={pg.port}\n[pgbouncer]\n"
            + "".join(f"{key} = {value}\n" for key, value in settings.items())
        )
        self._account.own(base, userlist, ini, *([self._log] if self._log else []))
        return ini

    def _spawn(self) -> None:
        log = self._log or Path("/dev/null")
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary, no shell
            [str(self.binary), str(self._ini)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            **self._account.popen_kwargs(),
        )
        self.pid = self._process.pid
        deadline = time.monotonic() + START_TIMEOUT_S
        if not _wait_for_port(self.port, deadline, self._process, host=self.host):
            tail = self._log_tail(log)
            self.stop()
            raise RuntimeError(f"PgBouncer did not start:\n{tail}")

    def kill_and_restart(self, *, down_s: float = 0.0) -> None:
        """SIGKILL the pooler (no goodbye to anyone), then start a new one on the same port.

        What clients see when a proxy node is replaced: every client and server connection
        drops at once; new connects are refused until the new process listens.
        """
        if self._process is None:
            raise RuntimeError("LocalPgBouncer is not started")
        self._process.kill()
        self._process.wait(STOP_TIMEOUT_S)
        self._process = None
        self.pid = None
        if down_s > 0:
            time.sleep(down_s)
        self._spawn()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
            self._process = None
            self.pid = None
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None

    def conninfo(self, *, user: str, password: str, dbname: str = "postgres", **extra: Any) -> str:
        """A libpq connection string to the pooler, TLS verified against the test CA."""
        params: dict[str, Any] = {"host": self.host, **extra}
        return self.postgres.conninfo(
            user=user, password=password, dbname=dbname, port=self.port, **params
        )

    @property
    def log_path(self) -> Path | None:
        return self._log
