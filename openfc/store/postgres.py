"""PostgreSQL backend: many nodes share one database (documents, blobs, queue, workflows, observations).

Each concern's SQL lives in a mixin beside this module (``_postgres_queue``, ``_postgres_workflow``,
``_postgres_observe``, ``_postgres_triggers``); this one owns the pool, migrations, documents and blobs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from openfc.errors import PreconditionFailed
from openfc.store import _postgres_cluster as cl  # cluster
from openfc.store import _postgres_observe as obs
from openfc.store import _postgres_queue as q
from openfc.store import _postgres_triggers as tr  # triggers
from openfc.store import _postgres_workflow as wf  # workflow
from openfc.store.base import JSON, Doc, Store, new_etag, now_iso

log = logging.getLogger("openfc.store")

#: Key of the transaction-level advisory lock that serialises migrations across starting nodes.
MIGRATION_LOCK = 0x6F70656E6663  # "openfc"

#: Schema migrations as (name, SQL), applied once each in list order under ``MIGRATION_LOCK``; the
#: ``migrations`` table records the names applied. Append new ones; never edit one that has shipped.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_docs",
        """
    CREATE TABLE docs (
        kind TEXT NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        body TEXT NOT NULL,
        etag TEXT NOT NULL,
        created TEXT NOT NULL,
        modified TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    CREATE TABLE blobs (digest TEXT PRIMARY KEY, data BYTEA NOT NULL)
    """,
    ),
    ("0002_async_queue", q.MIGRATION),  # async queue, dead letters, stateful invocation records
    ("0100_workflow", wf.MIGRATION),  # workflow executions and history (openfc.workflow)
    ("0200_observe", obs.MIGRATION),  # invocation records, log lines, provisioned usage (openfc.observe)
    ("0300_cluster", cl.MIGRATION),  # cluster: members, instance slots, leaders (openfc.cluster)
]


async def migrate(conn: Any) -> list[str]:
    """Apply pending ``MIGRATIONS`` in one transaction; concurrent starts wait on the advisory lock."""
    done: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
        applied = {r[0] for r in await conn.fetch("SELECT name FROM migrations")}
        for name, sql in MIGRATIONS:
            if name not in applied:
                await conn.execute(sql)
                await conn.execute("INSERT INTO migrations VALUES ($1, $2)", name, now_iso())
                done.append(name)
    return done


def node_id(data_dir: Path) -> str:
    """This node's stable identity, kept in its data dir (the same file the workflow engine uses)."""
    path = data_dir / "node-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        value = uuid.uuid4().hex
        path.write_text(value)
        return value


class PostgresStore(
    cl.ClusterPostgres, obs.ObservePostgres, wf.WorkflowPostgres, tr.TriggersPostgres, q.QueuePostgres, Store
):
    def __init__(self, url: str, data_dir: Path, *, pool_size: int = 10) -> None:
        """
        url: ``postgresql://user@host:port/database`` (or ``postgres://``), as libpq takes it.
        data_dir: the node's directory (its node id; code is unpacked there by the pool, not here).
        pool_size: most connections this node opens (plus one that LISTENs for queue wake-ups).
        """
        self.url = url
        self.data_dir = data_dir
        self.pool_size = pool_size
        self._pool: Any = None
        self.node = ""
        self._listener: Any = None
        self._wf_init()

    @property
    def pool(self) -> Any:
        assert self._pool is not None, "store is not open"
        return self._pool

    async def open(self) -> None:
        self.node = node_id(self.data_dir)
        self._pool = await asyncpg.create_pool(
            self.url, min_size=1, max_size=self.pool_size, max_inactive_connection_lifetime=30.0
        )
        async with self.pool.acquire() as conn:
            applied = await migrate(conn)
        if applied:
            log.info("store: applied migrations %s", ", ".join(applied))

    async def close(self) -> None:
        await self.workflow_close()  # workflow
        await self.queue_unlisten()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    # -- documents ---------------------------------------------------------------------

    @staticmethod
    def _doc(kind: str, row: Any) -> Doc:
        return Doc(kind, row["key"], json.loads(row["body"]), row["etag"], row["created"], row["modified"])

    async def get(self, kind: str, key: str) -> Doc | None:
        row = await self.pool.fetchrow(
            "SELECT key, body, etag, created, modified FROM docs WHERE kind=$1 AND key=$2", kind, key
        )
        return None if row is None else self._doc(kind, row)

    async def create(self, kind: str, key: str, body: JSON) -> Doc | None:
        now, etag = now_iso(), new_etag()
        status = await self.pool.execute(
            "INSERT INTO docs (kind, key, body, etag, created, modified) VALUES ($1,$2,$3,$4,$5,$5) "
            "ON CONFLICT DO NOTHING",
            kind, key, json.dumps(body), etag, now,
        )  # fmt: skip
        return None if q.rowcount(status) == 0 else Doc(kind, key, body, etag, now, now)

    async def update(self, kind: str, key: str, body: JSON, *, if_match: str | None = None) -> Doc | None:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT key, body, etag, created, modified FROM docs WHERE kind=$1 AND key=$2 FOR UPDATE", kind, key
            )
            if row is None:
                return None
            current = self._doc(kind, row)
            self._check_etag(current, if_match)
            etag, now = new_etag(), now_iso()
            await conn.execute(
                "UPDATE docs SET body=$1, etag=$2, modified=$3 WHERE kind=$4 AND key=$5",
                json.dumps(body), etag, now, kind, key,
            )  # fmt: skip
        return Doc(kind, key, body, etag, current.created, now)

    async def put(self, kind: str, key: str, body: JSON) -> Doc:
        now, etag = now_iso(), new_etag()
        row = await self.pool.fetchrow(
            "INSERT INTO docs (kind, key, body, etag, created, modified) VALUES ($1,$2,$3,$4,$5,$5) "
            "ON CONFLICT (kind, key) DO UPDATE SET body=excluded.body, etag=excluded.etag, modified=excluded.modified "
            "RETURNING key, body, etag, created, modified",
            kind, key, json.dumps(body), etag, now,
        )  # fmt: skip
        return self._doc(kind, row)

    async def delete(self, kind: str, key: str, *, if_match: str | None = None) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            if if_match is not None:
                row = await conn.fetchrow(
                    "SELECT key, body, etag, created, modified FROM docs WHERE kind=$1 AND key=$2 FOR UPDATE",
                    kind, key,
                )  # fmt: skip
                if row is None:
                    return False
                self._check_etag(self._doc(kind, row), if_match)
            status = await conn.execute("DELETE FROM docs WHERE kind=$1 AND key=$2", kind, key)
        return q.rowcount(status) > 0

    async def list(self, kind: str, *, prefix: str = "", start: str = "", limit: int = 100) -> list[Doc]:
        lower, op = max(prefix, start), ">="
        if "\0" in lower:  # text holds no NUL: "k\0..." as a lower bound means "strictly after k"
            lower, op = lower.split("\0", 1)[0], ">"
        rows = await self.pool.fetch(
            f"SELECT key, body, etag, created, modified FROM docs WHERE kind=$1 AND key{op}$2 AND starts_with(key, $3) "
            "ORDER BY key LIMIT $4",
            kind, lower, prefix, limit,
        )  # fmt: skip
        return [self._doc(kind, r) for r in rows]

    async def delete_prefix(self, kind: str, prefix: str) -> int:
        status = await self.pool.execute("DELETE FROM docs WHERE kind=$1 AND starts_with(key, $2)", kind, prefix)
        return q.rowcount(status)

    @staticmethod
    def _check_etag(current: Doc, if_match: str | None) -> None:
        if if_match is not None and if_match.strip('"') != current.etag:
            raise PreconditionFailed(f"etag mismatch: If-Match '{if_match}' but current etag is '{current.etag}'")

    # -- blobs -------------------------------------------------------------------------
    # In the database, so every node can fetch any function's code; each node unpacks it into its
    # own code cache (``openfc.pool``) on first use.

    async def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if await self.pool.fetchval("SELECT 1 FROM blobs WHERE digest=$1", digest) is None:
            await self.pool.execute(
                "INSERT INTO blobs (digest, data) VALUES ($1, $2) ON CONFLICT DO NOTHING", digest, data
            )
        return digest

    async def get_blob(self, digest: str) -> bytes | None:
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            return None
        data = await self.pool.fetchval("SELECT data FROM blobs WHERE digest=$1", digest)
        return None if data is None else bytes(data)
