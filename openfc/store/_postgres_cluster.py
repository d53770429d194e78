"""PostgreSQL side of the cluster: members, instance slots counted under a per-key advisory lock,
leaderships as lease rows, and change notices over LISTEN/NOTIFY (channel ``openfc_changes``)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from openfc.store.base import JSON, NodeRow

log = logging.getLogger("openfc.store")

CHANNEL = "openfc_changes"

MIGRATION = """
CREATE TABLE cluster_nodes (
    node TEXT PRIMARY KEY,
    info TEXT NOT NULL,
    heartbeat DOUBLE PRECISION NOT NULL,
    expires DOUBLE PRECISION NOT NULL
);
CREATE TABLE cluster_slots (
    instance_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    node TEXT NOT NULL,
    lease_until DOUBLE PRECISION NOT NULL
);
CREATE INDEX cluster_slots_key ON cluster_slots (key);
CREATE INDEX cluster_slots_node ON cluster_slots (node);
CREATE TABLE cluster_leaders (
    name TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    lease_until DOUBLE PRECISION NOT NULL
)
"""


class ClusterPostgres:
    """Mixin of ``PostgresStore``: uses its pool; LISTENs on a connection of its own."""

    url: str
    pool: Any
    _changes_conn: Any = None

    async def node_heartbeat(self, node: str, info: JSON, now: float, ttl: float) -> None:
        await self.pool.execute(
            "INSERT INTO cluster_nodes (node, info, heartbeat, expires) VALUES ($1,$2,$3,$4) ON CONFLICT (node) "
            "DO UPDATE SET info=excluded.info, heartbeat=excluded.heartbeat, expires=excluded.expires",
            node, json.dumps(info), now, now + ttl,
        )  # fmt: skip

    async def nodes(self, now: float) -> Sequence[NodeRow]:
        rows = await self.pool.fetch(
            "SELECT node, info, heartbeat, expires FROM cluster_nodes WHERE expires >= $1 ORDER BY node", now
        )
        return [NodeRow(r["node"], json.loads(r["info"]), r["heartbeat"], r["expires"]) for r in rows]

    async def node_leave(self, node: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM cluster_nodes WHERE node=$1", node)
            await conn.execute("DELETE FROM cluster_slots WHERE node=$1", node)
            await conn.execute("DELETE FROM cluster_leaders WHERE node=$1", node)

    async def slot_acquire(
        self, key: str, node: str, instance_id: str, limit: int, lease_until: float, now: float
    ) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            # Every acquirer of ``key`` queues on this lock until commit: the count below cannot go stale.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('openfc.slot:' || $1))", key)
            await conn.execute("DELETE FROM cluster_slots WHERE key=$1 AND lease_until < $2", key, now)
            held = await conn.fetchval(
                "SELECT count(*) FROM cluster_slots WHERE key=$1 AND instance_id<>$2", key, instance_id
            )
            if held >= limit:
                return False
            await conn.execute(
                "INSERT INTO cluster_slots (instance_id, key, node, lease_until) VALUES ($1,$2,$3,$4) "
                "ON CONFLICT (instance_id) DO UPDATE SET lease_until=excluded.lease_until",
                instance_id, key, node, lease_until,
            )  # fmt: skip
        return True

    async def slot_renew(self, node: str, lease_until: float, now: float) -> int:
        status = await self.pool.execute(
            "UPDATE cluster_slots SET lease_until=$1 WHERE node=$2 AND lease_until >= $3", lease_until, node, now
        )
        return int(status.rsplit(" ", 1)[-1])

    async def slot_release(self, instance_ids: Sequence[str]) -> None:
        if instance_ids:
            await self.pool.execute("DELETE FROM cluster_slots WHERE instance_id = ANY($1::text[])", list(instance_ids))

    async def leader(self, name: str, node: str, ttl: float, now: float) -> bool:
        holder = await self.pool.fetchval(
            "INSERT INTO cluster_leaders (name, node, lease_until) VALUES ($1,$2,$3) ON CONFLICT (name) DO UPDATE "
            "SET node=excluded.node, lease_until=excluded.lease_until "
            "WHERE cluster_leaders.node=excluded.node OR cluster_leaders.lease_until < $4 RETURNING node",
            name, node, now + ttl, now,
        )  # fmt: skip
        return holder is not None

    async def changes_publish(self, kind: str, origin: str) -> None:
        await self.pool.execute("SELECT pg_notify($1, $2)", CHANNEL, json.dumps({"kind": kind, "origin": origin}))

    async def changes_listen(self, callback: Callable[[str, str], None]) -> None:
        await self.changes_unlisten()

        def heard(conn: Any, pid: int, channel: str, payload: str) -> None:
            try:
                notice = json.loads(payload)
                callback(str(notice["kind"]), str(notice["origin"]))
            except Exception:
                log.exception("cluster: bad change notice %r", payload)

        conn = await asyncpg.connect(self.url)
        await conn.add_listener(CHANNEL, heard)
        self._changes_conn = conn

    async def changes_unlisten(self) -> None:
        conn, self._changes_conn = self._changes_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
