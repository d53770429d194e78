"""SQLite backend: one WAL database file in the data dir, blobs as files beside it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import aiosqlite

from openfc.errors import PreconditionFailed
from openfc.store import _sqlite_cluster as cl  # cluster
from openfc.store import _sqlite_observe as obs
from openfc.store import _sqlite_queue as q
from openfc.store import _sqlite_triggers as tr  # triggers
from openfc.store import _sqlite_workflow as wf  # workflow
from openfc.store.base import JSON, Doc, Store, new_etag, now_iso
from openfc.store.queue import DeadLetter, InvocationRecord, NewEvent, QueuedEvent, Settlement

T = TypeVar("T")

#: Schema migrations as (name, SQL), applied once each in list order; the ``migrations`` table
#: records the names applied. Append new ones; never edit one that has shipped.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_docs",
        """
    CREATE TABLE docs (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        body TEXT NOT NULL,
        etag TEXT NOT NULL,
        created TEXT NOT NULL,
        modified TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;
    """,
    ),
    ("0002_async_queue", q.MIGRATION),  # async queue, dead letters, stateful invocation records
    ("0100_workflow", wf.MIGRATION),  # workflow executions and history (openfc.workflow)
    ("0200_observe", obs.MIGRATION),  # invocation records, log lines, provisioned usage (openfc.observe)
    ("0300_cluster", cl.MIGRATION),  # cluster: members, instance slots, leaders (openfc.cluster)
]


# workflow: the mixin holds the workflow_* methods; cluster: ClusterSQLite the node_*/slot_*/leader/changes_*
class SQLiteStore(cl.ClusterSQLite, obs.ObserveSQLite, wf.WorkflowSQLite, Store):
    def __init__(self, path: Path, blob_dir: Path) -> None:
        self.path = path
        self.blob_dir = blob_dir
        self._db: aiosqlite.Connection | None = None
        self._write = asyncio.Lock()
        self._queue_db: sqlite3.Connection | None = None
        self._queue_thread: ThreadPoolExecutor | None = None

    @property
    def db(self) -> aiosqlite.Connection:
        assert self._db is not None, "store is not open"
        return self._db

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.blob_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = not self.path.exists()
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        if fresh:
            os.chmod(self.path, 0o600)
        await self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a process kill; only an OS crash may lose the last ones.
        await self.db.execute("PRAGMA synchronous=NORMAL")
        await self.db.execute("PRAGMA busy_timeout=30000")
        await self.db.execute("PRAGMA foreign_keys=ON")
        await self.db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
        async with self.db.execute("SELECT name FROM migrations") as cur:
            applied = {row[0] for row in await cur.fetchall()}
        for name, sql in MIGRATIONS:
            if name not in applied:
                await self.db.executescript(
                    f"BEGIN; {sql}; INSERT INTO migrations VALUES ('{name}', '{now_iso()}'); COMMIT;"
                )
        self._queue_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openfc-queue")
        self._queue_db = await self._q(q.connect, str(self.path))

    async def close(self) -> None:
        await self.workflow_close()  # workflow
        if self._queue_thread is not None:
            if self._queue_db is not None:
                await self._q(self._queue_db.close)
            self._queue_thread.shutdown()
            self._queue_db, self._queue_thread = None, None
        if self._db is not None:
            await self._db.close()
            self._db = None

    # -- documents ---------------------------------------------------------------------

    @staticmethod
    def _doc(kind: str, row: sqlite3.Row | tuple[str, str, str, str, str]) -> Doc:
        key, body, etag, created, modified = row
        return Doc(kind, key, json.loads(body), etag, created, modified)

    async def get(self, kind: str, key: str) -> Doc | None:
        # execute_fetchall: the statement runs and finishes in one hop of the connection's thread, so
        # no other coroutine's write lands inside this read's transaction (SQLITE_BUSY_SNAPSHOT). (triggers)
        rows = await self.db.execute_fetchall(
            "SELECT key, body, etag, created, modified FROM docs WHERE kind=? AND key=?", (kind, key)
        )
        row = next(iter(rows), None)
        return self._doc(kind, tuple(row)) if row else None

    async def create(self, kind: str, key: str, body: JSON) -> Doc | None:
        now, etag = now_iso(), new_etag()
        async with self._write:
            cur = await self.db.execute(
                "INSERT OR IGNORE INTO docs (kind, key, body, etag, created, modified) VALUES (?,?,?,?,?,?)",
                (kind, key, json.dumps(body), etag, now, now),
            )
        if cur.rowcount == 0:
            return None
        return Doc(kind, key, body, etag, now, now)

    async def update(self, kind: str, key: str, body: JSON, *, if_match: str | None = None) -> Doc | None:
        async with self._write:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                current = await self.get(kind, key)
                if current is None:
                    return None
                self._check_etag(current, if_match)
                etag, now = new_etag(), now_iso()
                await self.db.execute(
                    "UPDATE docs SET body=?, etag=?, modified=? WHERE kind=? AND key=?",
                    (json.dumps(body), etag, now, kind, key),
                )
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")
        return Doc(kind, key, body, etag, current.created, now)

    async def put(self, kind: str, key: str, body: JSON) -> Doc:
        now, etag = now_iso(), new_etag()
        async with self._write:
            await self.db.execute(
                "INSERT INTO docs (kind, key, body, etag, created, modified) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT (kind, key) DO UPDATE SET body=excluded.body, etag=excluded.etag, "
                "modified=excluded.modified",
                (kind, key, json.dumps(body), etag, now, now),
            )
        doc = await self.get(kind, key)
        assert doc is not None
        return doc

    async def delete(self, kind: str, key: str, *, if_match: str | None = None) -> bool:
        async with self._write:
            if if_match is not None:
                current = await self.get(kind, key)
                if current is None:
                    return False
                self._check_etag(current, if_match)
            cur = await self.db.execute("DELETE FROM docs WHERE kind=? AND key=?", (kind, key))
        return cur.rowcount > 0

    async def list(self, kind: str, *, prefix: str = "", start: str = "", limit: int = 100) -> list[Doc]:
        lower = max(prefix, start)
        rows = await self.db.execute_fetchall(  # one hop: see ``get`` (triggers)
            "SELECT key, body, etag, created, modified FROM docs WHERE kind=? AND key>=? AND substr(key, 1, ?)=? "
            "ORDER BY key LIMIT ?",
            (kind, lower, len(prefix), prefix, limit),
        )
        return [self._doc(kind, tuple(r)) for r in rows]

    async def delete_prefix(self, kind: str, prefix: str) -> int:
        async with self._write:
            cur = await self.db.execute(
                "DELETE FROM docs WHERE kind=? AND substr(key, 1, ?)=?", (kind, len(prefix), prefix)
            )
        return cur.rowcount

    @staticmethod
    def _check_etag(current: Doc, if_match: str | None) -> None:
        if if_match is not None and if_match.strip('"') != current.etag:
            raise PreconditionFailed(f"etag mismatch: If-Match '{if_match}' but current etag is '{current.etag}'")

    # -- blobs -------------------------------------------------------------------------

    def _blob_path(self, digest: str) -> Path:
        return self.blob_dir / digest[:2] / digest

    async def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._blob_path(digest)

        def write() -> None:
            if path.exists():
                return
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(f".{os.getpid()}.{new_etag()}.tmp")
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)

        await asyncio.to_thread(write)
        return digest

    async def get_blob(self, digest: str) -> bytes | None:
        path = self._blob_path(digest)
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            return None

        def read() -> bytes | None:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None

        return await asyncio.to_thread(read)

    # -- async queue -------------------------------------------------------------------
    # Its own connection on one dedicated thread: each operation is one blocking transaction
    # (see ``_sqlite_queue``), run without hopping threads per statement.

    async def _q(self, fn: Callable[..., T], *args: object) -> T:
        assert self._queue_thread is not None, "store is not open"
        return await asyncio.get_running_loop().run_in_executor(self._queue_thread, fn, *args)

    @property
    def qdb(self) -> sqlite3.Connection:
        assert self._queue_db is not None, "store is not open"
        return self._queue_db

    async def queue_enqueue(self, events: Sequence[NewEvent]) -> Sequence[bool]:
        return await self._q(q.enqueue, self.qdb, events)

    async def queue_enqueue_marked(  # triggers (openfc.triggers)
        self, events: Sequence[NewEvent], kind: str, key: str, body: JSON, *, if_match: str | None
    ) -> bool:
        return await self._q(tr.enqueue_marked, self.qdb, events, kind, key, body, if_match)

    async def queue_ready(self, now: float) -> Sequence[str]:
        return await self._q(q.ready, self.qdb, now)

    async def queue_next_due(self, now: float) -> float | None:
        return await self._q(q.next_due, self.qdb, now)

    async def queue_claim(self, target: str, limit: int, *, now: float, lease_until: float) -> Sequence[QueuedEvent]:
        return await self._q(q.claim, self.qdb, target, limit, now, lease_until)

    async def queue_extend(self, claims: Sequence[tuple[str, str]], lease_until: float) -> None:
        await self._q(q.extend, self.qdb, claims, lease_until)

    async def queue_release(self, claims: Sequence[tuple[str, str]]) -> None:
        await self._q(q.release, self.qdb, claims)

    async def queue_settle(self, settlements: Sequence[Settlement]) -> Sequence[bool]:
        return await self._q(q.settle, self.qdb, settlements)

    async def queue_recover(self) -> int:
        return await self._q(q.recover, self.qdb)

    async def queue_depth(self, target: str | None = None) -> int:
        return await self._q(q.depth, self.qdb, target)

    async def queue_listen(self, wake: Callable[[str], None]) -> None:  # scale-out
        """Nothing to listen to: this node is the only writer, and its queue notifies its dispatcher."""

    async def invocation_get(self, function: str, invocation_id: str) -> InvocationRecord | None:
        return await self._q(q.invocation_get, self.qdb, function, invocation_id)

    async def invocation_list(
        self,
        function: str,
        *,
        qualifier: str | None = None,
        status: str | None = None,
        prefix: str = "",
        created_from: float | None = None,
        created_to: float | None = None,
        descending: bool = True,
        offset: int = 0,
        limit: int = 100,
    ) -> Sequence[InvocationRecord]:
        return await self._q(
            q.invocation_list, self.qdb, function, qualifier, status, prefix, created_from, created_to, descending,
            offset, limit,
        )  # fmt: skip

    async def invocation_stop(self, function: str, invocation_id: str, now: float) -> InvocationRecord | None:
        return await self._q(q.invocation_stop, self.qdb, function, invocation_id, now)

    async def dead_letter_list(self, owner: str, *, start: str = "", limit: int = 100) -> Sequence[DeadLetter]:
        return await self._q(q.dead_letter_list, self.qdb, owner, start, limit)

    async def dead_letter_get(self, letter_id: str) -> DeadLetter | None:
        return await self._q(q.dead_letter_get, self.qdb, letter_id)

    async def dead_letter_redrive(self, letter_id: str, now: float) -> DeadLetter | None:
        return await self._q(q.dead_letter_redrive, self.qdb, letter_id, now)

    async def dead_letter_delete(self, letter_id: str) -> bool:
        return await self._q(q.dead_letter_delete, self.qdb, letter_id)
