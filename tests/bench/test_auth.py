"""The iam-like auth model's SCRAM verifier matches what libpq (PostgreSQL's client) computes."""

from __future__ import annotations

import base64

import psycopg.pq
import pytest

from bench.auth import (
    IAM_LIKE,
    IAM_LIKE_ITERATIONS,
    SCRAM_4096,
    iterations_for,
    parse_verifier,
    scram_sha256_verifier,
)


def _libpq_verifier(password: str, user: str = "app_user") -> str:
    # PQencryptPasswordConn with an explicit algorithm needs no live server connection.
    conn = psycopg.pq.PGconn.connect_start(b"host=127.0.0.1 port=1")
    try:
        return conn.encrypt_password(password.encode(), user.encode(), b"scram-sha-256").decode()
    finally:
        conn.finish()


@pytest.mark.parametrize("password", ["pencil", "Zq3_-x9~ !tok=en/+", "a" * 200])
def test_verifier_equals_libpq_for_the_same_salt_and_iterations(password: str) -> None:
    reference = _libpq_verifier(password)
    parts = parse_verifier(reference)
    assert parts.iterations == 4096
    ours = scram_sha256_verifier(password, iterations=parts.iterations, salt=parts.salt)
    assert ours == reference


def test_low_iteration_verifier_has_postgres_format() -> None:
    verifier = scram_sha256_verifier("tok", iterations=IAM_LIKE_ITERATIONS, salt=b"\x01" * 16)
    head, keys = verifier.rsplit("$", 1)
    assert head == "SCRAM-SHA-256$16:" + base64.b64encode(b"\x01" * 16).decode()
    stored, server = (base64.b64decode(k) for k in keys.split(":"))
    assert len(stored) == len(server) == 32
    assert parse_verifier(verifier).iterations == 16
    # a fresh random salt each time
    assert scram_sha256_verifier("tok") != scram_sha256_verifier("tok")


def test_rejects_what_saslprep_would_change_and_bad_input() -> None:
    for bad in ("", "caf\u00e9", "tab\there"):
        with pytest.raises(ValueError, match="printable ASCII"):
            scram_sha256_verifier(bad)
    with pytest.raises(ValueError, match="iterations"):
        scram_sha256_verifier("x", iterations=0)
    with pytest.raises(ValueError, match="not a SCRAM"):
        parse_verifier("md5abcdef")
    assert iterations_for(IAM_LIKE) == 16
    assert iterations_for(SCRAM_4096) == 4096
    with pytest.raises(ValueError, match="unknown auth model"):
        iterations_for("plain")
