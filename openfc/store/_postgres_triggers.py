"""PostgreSQL side of the triggers: enqueue async events and swap a marker document in one transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from openfc.store._postgres_queue import insert_events, rowcount
from openfc.store.base import JSON, new_etag, now_iso
from openfc.store.queue import NewEvent


class TriggersPostgres:
    """``queue_enqueue_marked`` (mixed into ``PostgresStore``)."""

    if TYPE_CHECKING:

        @property
        def pool(self) -> Any: ...

    async def queue_enqueue_marked(
        self, events: Sequence[NewEvent], kind: str, key: str, body: JSON, *, if_match: str | None
    ) -> bool:
        """See ``Store.queue_enqueue_marked``: a conditional write, so of two nodes firing the same tick
        only the first to commit enqueues it (the other's write matches no row)."""
        now = now_iso()
        async with self.pool.acquire() as conn, conn.transaction():
            if if_match is None:
                status = await conn.execute(
                    "INSERT INTO docs (kind, key, body, etag, created, modified) VALUES ($1,$2,$3,$4,$5,$5) "
                    "ON CONFLICT DO NOTHING",
                    kind, key, json.dumps(body), new_etag(), now,
                )  # fmt: skip
            else:
                status = await conn.execute(
                    "UPDATE docs SET body=$1, etag=$2, modified=$3 WHERE kind=$4 AND key=$5 AND etag=$6",
                    json.dumps(body), new_etag(), now, kind, key, if_match,
                )  # fmt: skip
            if rowcount(status) == 0:
                return False
            await insert_events(conn, events)
        return True
