"""backup.sh and restore.sh, exactly as shipped to the Job pods, against a real PostgreSQL."""

from __future__ import annotations

import gzip
import os
import random
import subprocess
import threading
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from djangostack_devcluster.services import PostgresServer

SCRIPTS = resources.files("djangostack_operator") / "scripts"

SCHEMA = """
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, joined date NOT NULL);
CREATE TABLE orders (
  id serial PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers(id),
  total numeric(10, 2) NOT NULL,
  note text
);
CREATE INDEX orders_customer ON orders (customer_id);
INSERT INTO customers (name, joined)
  SELECT 'customer ' || n, date '2020-01-01' + n FROM generate_series(1, 200) AS n;
INSERT INTO orders (customer_id, total, note)
  SELECT 1 + n % 200, n * 1.25, CASE WHEN n % 3 = 0 THEN NULL ELSE 'note ' || n END
  FROM generate_series(1, 1000) AS n;
"""


def run_script(
    name: str, env: dict[str, str], *args: str, backup_dir: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / name), *args],
        env={**os.environ, **env, "BACKUP_DIR": str(backup_dir)},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def database(postgres: PostgresServer) -> Iterator[str]:
    name = f"shop_{uuid.uuid4().hex[:8]}"
    postgres.psql(f"CREATE DATABASE {name}")
    postgres.psql(SCHEMA, name)
    yield name
    postgres.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def table_checksums(postgres: PostgresServer, database: str) -> dict[str, str]:
    tables = postgres.psql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", database
    ).split()
    return {
        table: postgres.psql(
            "SELECT count(*) || ':' || "
            f"md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t",
            database,
        )
        for table in tables
    }


def backups(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_backup_drop_restore_brings_every_table_back(
    postgres: PostgresServer, database: str, tmp_path: Path
) -> None:
    before = table_checksums(postgres, database)
    assert set(before) == {"customers", "orders"}
    made = run_script("backup.sh", postgres.env(database), backup_dir=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "wrote name=backup-" in made.stdout
    postgres.psql(f"DROP DATABASE {database} WITH (FORCE)")
    postgres.psql(f"CREATE DATABASE {database}")
    restored = run_script("restore.sh", postgres.env(database), "latest", backup_dir=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert table_checksums(postgres, database) == before
    # Sequences come back too: the next order continues the numbering.
    assert (
        postgres.psql(
            "INSERT INTO orders (customer_id, total) VALUES (1, 1) RETURNING id", database
        ).splitlines()[0]
        == "1001"
    )


def test_backup_and_restore_work_with_a_database_url(
    postgres: PostgresServer, database: str, tmp_path: Path
) -> None:
    url = {"DATABASE_URL": postgres.url(database)}
    before = table_checksums(postgres, database)
    assert run_script("backup.sh", url, backup_dir=tmp_path).returncode == 0
    postgres.psql("DELETE FROM orders", database)
    restored = run_script("restore.sh", url, backups(tmp_path)[0], backup_dir=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert table_checksums(postgres, database) == before


def test_retention_keeps_exactly_the_newest_n(
    postgres: PostgresServer, database: str, tmp_path: Path
) -> None:
    env = {**postgres.env(database), "BACKUP_RETAIN": "3"}
    made = []
    for _ in range(5):
        result = run_script("backup.sh", env, backup_dir=tmp_path)
        assert result.returncode == 0, result.stderr
        made.append(result.stdout.split("name=")[1].split()[0])
    assert backups(tmp_path) == sorted(made)[-3:]
    assert made == sorted(made)  # names sort by time


def corrupt_variants(dump: Path, directory: Path) -> dict[str, Path]:
    raw = dump.read_bytes()
    sql = gzip.decompress(raw).decode()
    variants = {
        "empty": b"",
        "cut-gzip": raw[: len(raw) // 2],
        # Valid gzip, but the SQL stops before pg_dump's closing line.
        "cut-sql": gzip.compress(sql[: len(sql) // 2].encode()),
        "not-a-dump": gzip.compress(b"DROP TABLE customers CASCADE;\n"),
    }
    paths = {}
    for name, content in variants.items():
        path = directory / f"backup-{name}.sql.gz"
        path.write_bytes(content)
        paths[name] = path
    return paths


@pytest.mark.parametrize("variant", ["empty", "cut-gzip", "cut-sql", "not-a-dump"])
def test_an_unusable_dump_is_refused_before_touching_the_database(
    postgres: PostgresServer, database: str, tmp_path: Path, variant: str
) -> None:
    assert run_script("backup.sh", postgres.env(database), backup_dir=tmp_path).returncode == 0
    (dump,) = tmp_path.iterdir()
    (tmp_path / "bad").mkdir()
    bad = corrupt_variants(dump, tmp_path / "bad")
    postgres.psql("INSERT INTO customers (name, joined) VALUES ('after backup', now())", database)
    before = table_checksums(postgres, database)
    result = run_script(
        "restore.sh", postgres.env(database), str(bad[variant]), backup_dir=tmp_path
    )
    assert result.returncode != 0
    assert "refusing to restore" in result.stderr
    assert table_checksums(postgres, database) == before


def test_a_restore_that_fails_midway_leaves_the_database_intact(
    postgres: PostgresServer, database: str, tmp_path: Path
) -> None:
    assert run_script("backup.sh", postgres.env(database), backup_dir=tmp_path).returncode == 0
    (dump,) = tmp_path.iterdir()
    sql = gzip.decompress(dump.read_bytes()).decode()
    # Well formed, complete, but one statement in the middle fails after the DROPs ran.
    marker = "CREATE INDEX orders_customer"
    broken = sql.replace(marker, "SELECT no_such_function();\n" + marker)
    assert broken != sql
    (tmp_path / "broken").mkdir()
    bad = tmp_path / "broken" / "backup-broken.sql.gz"
    bad.write_bytes(gzip.compress(broken.encode()))
    postgres.psql("UPDATE orders SET note = 'changed after backup' WHERE id = 7", database)
    before = table_checksums(postgres, database)
    result = run_script("restore.sh", postgres.env(database), str(bad), backup_dir=tmp_path)
    assert result.returncode != 0
    assert "rolled back" in result.stderr
    assert table_checksums(postgres, database) == before


def test_a_backup_taken_during_writes_restores_a_consistent_state(
    postgres: PostgresServer, database: str, tmp_path: Path
) -> None:
    postgres.psql(
        "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);"
        "CREATE TABLE transfers (id serial PRIMARY KEY, source int, target int, amount bigint);"
        "INSERT INTO accounts SELECT n, 1000 FROM generate_series(1, 20) AS n;",
        database,
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def transfer_money() -> None:
        # Each transaction moves money and records the transfer: totals are invariant.
        chooser = random.Random(7)
        try:
            for _ in range(2000):
                if stop.is_set():
                    return
                source, target = chooser.randint(1, 20), chooser.randint(1, 20)
                postgres.psql(
                    "BEGIN;"
                    f"UPDATE accounts SET balance = balance - 7 WHERE id = {source};"
                    f"UPDATE accounts SET balance = balance + 7 WHERE id = {target};"
                    "INSERT INTO transfers (source, target, amount)"
                    f" VALUES ({source}, {target}, 7);"
                    "COMMIT;",
                    database,
                )
        except BaseException as error:
            errors.append(error)

    writer = threading.Thread(target=transfer_money)
    writer.start()
    try:
        for _ in range(3):
            made = run_script("backup.sh", postgres.env(database), backup_dir=tmp_path)
            assert made.returncode == 0, made.stderr
    finally:
        stop.set()
        writer.join()
    assert not errors
    transfers_now = int(postgres.psql("SELECT count(*) FROM transfers", database))
    copy = f"{database}_copy"
    postgres.psql(f"CREATE DATABASE {copy}")
    try:
        restored = run_script("restore.sh", postgres.env(copy), "latest", backup_dir=tmp_path)
        assert restored.returncode == 0, restored.stderr
        # The dump is one snapshot: balances and transfers agree, whatever was in flight.
        total = int(postgres.psql("SELECT sum(balance) FROM accounts", copy))
        moved = int(postgres.psql("SELECT count(*) FROM transfers", copy))
        assert total == 20 * 1000
        assert 0 < moved <= transfers_now
        net = postgres.psql(
            "SELECT coalesce(sum(CASE WHEN target = a.id THEN amount ELSE 0 END)"
            " - sum(CASE WHEN source = a.id THEN amount ELSE 0 END), 0) + 1000 = a.balance"
            " FROM accounts a LEFT JOIN transfers t ON a.id IN (t.source, t.target)"
            " GROUP BY a.id, a.balance",
            copy,
        )
        assert set(net.split()) == {"t"}
    finally:
        postgres.psql(f"DROP DATABASE {copy} WITH (FORCE)")


def test_a_failing_backup_exits_non_zero_and_leaves_no_file(
    postgres: PostgresServer, database: str, tmp_path: Path
) -> None:
    env = {**postgres.env(database), "PGPASSWORD": "wrong"}
    result = run_script("backup.sh", env, backup_dir=tmp_path)
    assert result.returncode != 0
    assert "pg_dump failed" in result.stderr
    assert backups(tmp_path) == []


@pytest.mark.parametrize(
    ("env", "message"),
    [({"BACKUP_RETAIN": "zero"}, "BACKUP_RETAIN must be a positive integer")],
)
def test_bad_settings_are_named(
    postgres: PostgresServer, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = run_script("backup.sh", {**postgres.env(), **env}, backup_dir=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
