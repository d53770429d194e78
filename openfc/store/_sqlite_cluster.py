"""SQLite side of the cluster tables: one node owns the file, so these are simple and always agree."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from openfc.store._sqlite_queue import transaction
from openfc.store.base import JSON, NodeRow

T = TypeVar("T")

MIGRATION = """
CREATE TABLE cluster_nodes (
    node TEXT PRIMARY KEY,
    info TEXT NOT NULL,
    heartbeat REAL NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE cluster_slots (
    instance_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    node TEXT NOT NULL,
    lease_until REAL NOT NULL
);
CREATE INDEX cluster_slots_key ON cluster_slots (key);
CREATE INDEX cluster_slots_node ON cluster_slots (node);
CREATE TABLE cluster_leaders (
    name TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    lease_until REAL NOT NULL
)
"""


def _heartbeat(db: sqlite3.Connection, node: str, info: JSON, now: float, ttl: float) -> None:
    db.execute(
        "INSERT INTO cluster_nodes (node, info, heartbeat, expires) VALUES (?,?,?,?) ON CONFLICT (node) DO UPDATE "
        "SET info=excluded.info, heartbeat=excluded.heartbeat, expires=excluded.expires",
        (node, json.dumps(info), now, now + ttl),
    )


def _nodes(db: sqlite3.Connection, now: float) -> list[NodeRow]:
    rows = db.execute(
        "SELECT node, info, heartbeat, expires FROM cluster_nodes WHERE expires >= ? ORDER BY node", (now,)
    ).fetchall()
    return [NodeRow(r[0], json.loads(r[1]), r[2], r[3]) for r in rows]


def _leave(db: sqlite3.Connection, node: str) -> None:
    with transaction(db):
        db.execute("DELETE FROM cluster_nodes WHERE node=?", (node,))
        db.execute("DELETE FROM cluster_slots WHERE node=?", (node,))
        db.execute("DELETE FROM cluster_leaders WHERE node=?", (node,))


def _slot_acquire(
    db: sqlite3.Connection, key: str, node: str, instance_id: str, limit: int, lease_until: float, now: float
) -> bool:
    with transaction(db):  # BEGIN IMMEDIATE: the count and the insert are one writer's
        db.execute("DELETE FROM cluster_slots WHERE key=? AND lease_until < ?", (key, now))
        (held,) = db.execute(
            "SELECT count(*) FROM cluster_slots WHERE key=? AND instance_id<>?", (key, instance_id)
        ).fetchone()
        if held >= limit:
            return False
        db.execute(
            "INSERT INTO cluster_slots (instance_id, key, node, lease_until) VALUES (?,?,?,?) "
            "ON CONFLICT (instance_id) DO UPDATE SET lease_until=excluded.lease_until",
            (instance_id, key, node, lease_until),
        )
    return True


def _slot_renew(db: sqlite3.Connection, node: str, lease_until: float, now: float) -> int:
    cur = db.execute(
        "UPDATE cluster_slots SET lease_until=? WHERE node=? AND lease_until >= ?", (lease_until, node, now)
    )
    return cur.rowcount


def _slot_release(db: sqlite3.Connection, instance_ids: Sequence[str]) -> None:
    db.executemany("DELETE FROM cluster_slots WHERE instance_id=?", [(i,) for i in instance_ids])


def _leader(db: sqlite3.Connection, name: str, node: str, ttl: float, now: float) -> bool:
    row = db.execute(
        "INSERT INTO cluster_leaders (name, node, lease_until) VALUES (?,?,?) ON CONFLICT (name) DO UPDATE "
        "SET node=excluded.node, lease_until=excluded.lease_until "
        "WHERE cluster_leaders.node=excluded.node OR cluster_leaders.lease_until < ? RETURNING node",
        (name, node, now + ttl, now),
    ).fetchone()
    return row is not None


class ClusterSQLite:
    """Mixin of ``SQLiteStore``: the cluster tables on its queue connection and thread."""

    if TYPE_CHECKING:

        async def _q(self, fn: Callable[..., T], *args: Any) -> T: ...

        @property
        def qdb(self) -> sqlite3.Connection: ...

    async def node_heartbeat(self, node: str, info: JSON, now: float, ttl: float) -> None:
        await self._q(_heartbeat, self.qdb, node, info, now, ttl)

    async def nodes(self, now: float) -> Sequence[NodeRow]:
        return await self._q(_nodes, self.qdb, now)

    async def node_leave(self, node: str) -> None:
        await self._q(_leave, self.qdb, node)

    async def slot_acquire(
        self, key: str, node: str, instance_id: str, limit: int, lease_until: float, now: float
    ) -> bool:
        return await self._q(_slot_acquire, self.qdb, key, node, instance_id, limit, lease_until, now)

    async def slot_renew(self, node: str, lease_until: float, now: float) -> int:
        return await self._q(_slot_renew, self.qdb, node, lease_until, now)

    async def slot_release(self, instance_ids: Sequence[str]) -> None:
        await self._q(_slot_release, self.qdb, list(instance_ids))

    async def leader(self, name: str, node: str, ttl: float, now: float) -> bool:
        return await self._q(_leader, self.qdb, name, node, ttl, now)

    async def changes_publish(self, kind: str, origin: str) -> None:
        """One node per SQLite file: its own writes already refreshed its caches."""

    async def changes_listen(self, callback: Callable[[str, str], None]) -> None:
        """Nothing to hear: no other node shares this file."""

    async def changes_unlisten(self) -> None:
        pass
