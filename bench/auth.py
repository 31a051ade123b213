"""Auth cost models of the bench: what a connect's authentication costs, as in AWS or not.

In AWS the functions authenticate to RDS Proxy with an IAM token: a presigned SigV4 string sent
as a cleartext password over TLS, checked by the proxy with a few HMACs. Nobody runs a
4096-round PBKDF2. The local stand-in (PgBouncer, PostgreSQL) only speaks SCRAM-SHA-256, whose
client side runs PBKDF2 over the role's iteration count (4096 in PostgreSQL 15, fixed) on every
connect: ~8 ms of client CPU here, paid by the simulated environments on the machine's shared
CPUs. Two models:

- ``scram-4096``: the role's verifier as the migration sets it (libpq, 4096 iterations).
- ``iam-like`` (default): the same SCRAM exchange and TLS verify-full, with a verifier of
  ``IAM_LIKE_ITERATIONS`` iterations computed here and stored pre-hashed (PostgreSQL keeps a
  verifier it is given as is; libpq and PgBouncer's auth_query follow the iteration count the
  verifier says). The handshake then costs what the proxy handshake costs in AWS: TLS plus a few
  hashes.

Server-side SCRAM never runs PBKDF2 (it checks the proof against StoredKey), so the model changes
the clients' cost only; PostgreSQL's and PgBouncer's per-login work stays the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from localpg import LocalPostgres

SCRAM_4096 = "scram-4096"
IAM_LIKE = "iam-like"
AUTH_MODELS = (IAM_LIKE, SCRAM_4096)
DEFAULT_AUTH_MODEL = IAM_LIKE
IAM_LIKE_ITERATIONS = 16
POSTGRES_DEFAULT_ITERATIONS = 4096  # PostgreSQL 15's fixed count (scram_iterations is 16+)
SALT_BYTES = 16  # as PostgreSQL's SCRAM_DEFAULT_SALT_LEN

_VERIFIER = re.compile(
    r"^SCRAM-SHA-256\$(?P<iterations>\d+):(?P<salt>[A-Za-z0-9+/=]+)"
    r"\$(?P<stored_key>[A-Za-z0-9+/=]+):(?P<server_key>[A-Za-z0-9+/=]+)$"
)


@dataclass(frozen=True)
class ScramVerifier:
    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes

    def __str__(self) -> str:
        b64 = base64.b64encode
        return (
            f"SCRAM-SHA-256${self.iterations}:{b64(self.salt).decode()}"
            f"${b64(self.stored_key).decode()}:{b64(self.server_key).decode()}"
        )


def scram_sha256_verifier(
    password: str, *, iterations: int = IAM_LIKE_ITERATIONS, salt: bytes | None = None
) -> str:
    """A PostgreSQL SCRAM-SHA-256 verifier (RFC 5802/7677; the pg_authid.rolpassword format).

    ``SCRAM-SHA-256$<iterations>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>`` with
    SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations), StoredKey =
    SHA-256(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword, "Server Key").
    The password must be printable ASCII, for which SASLprep (what libpq applies) is the identity.
    """
    if not password or not all(" " <= ch <= "~" for ch in password):
        raise ValueError("password must be non-empty printable ASCII (SASLprep is then a no-op)")
    if iterations < 1:
        raise ValueError("iterations must be >= 1")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    return str(
        ScramVerifier(
            iterations=iterations,
            salt=salt,
            stored_key=hashlib.sha256(client_key).digest(),
            server_key=hmac.digest(salted, b"Server Key", "sha256"),
        )
    )


def parse_verifier(text: str) -> ScramVerifier:
    """Split a SCRAM-SHA-256 verifier into its parts (ValueError if it is not one)."""
    match = _VERIFIER.match(text)
    if match is None:
        raise ValueError("not a SCRAM-SHA-256 verifier")
    b64d = base64.b64decode
    return ScramVerifier(
        iterations=int(match["iterations"]),
        salt=b64d(match["salt"]),
        stored_key=b64d(match["stored_key"]),
        server_key=b64d(match["server_key"]),
    )


def iterations_for(model: str) -> int:
    if model == IAM_LIKE:
        return IAM_LIKE_ITERATIONS
    if model == SCRAM_4096:
        return POSTGRES_DEFAULT_ITERATIONS
    raise ValueError(f"unknown auth model {model!r}; allowed: {', '.join(AUTH_MODELS)}")


def apply_auth_model(pg: LocalPostgres, role: str, password: str, model: str) -> int:
    """Give ``role`` the model's verifier for ``password`` (superuser on ``pg``, a LocalPostgres).

    Returns the iteration count PostgreSQL now stores for the role (read back from pg_authid).
    ``scram-4096`` keeps the verifier the migration set (libpq's, 4096 iterations).
    """
    from psycopg import sql  # noqa: PLC0415

    iterations = iterations_for(model)
    if model == IAM_LIKE:
        verifier = scram_sha256_verifier(password, iterations=iterations)
        with pg.connect() as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(verifier)
                )
            )
    rows = pg.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
    stored = parse_verifier(str(rows[0][0])).iterations
    if stored != iterations:
        raise RuntimeError(
            f"{role} has a {stored}-iteration verifier; the {model} model wants {iterations}"
        )
    return stored


__all__ = [
    "AUTH_MODELS",
    "DEFAULT_AUTH_MODEL",
    "IAM_LIKE",
    "IAM_LIKE_ITERATIONS",
    "SCRAM_4096",
    "ScramVerifier",
    "apply_auth_model",
    "iterations_for",
    "parse_verifier",
    "scram_sha256_verifier",
]
