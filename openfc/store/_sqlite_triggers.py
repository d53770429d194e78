"""SQLite side of the triggers: enqueue async events and swap a marker document in one transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from openfc.store._sqlite_queue import _insert_events, transaction
from openfc.store.base import JSON, new_etag, now_iso
from openfc.store.queue import NewEvent


def enqueue_marked(
    db: sqlite3.Connection, events: Sequence[NewEvent], kind: str, key: str, body: JSON, if_match: str | None
) -> bool:
    """See ``Store.queue_enqueue_marked``: all or nothing, on the queue connection."""
    with transaction(db):
        row = db.execute("SELECT etag FROM docs WHERE kind=? AND key=?", (kind, key)).fetchone()
        current = row[0] if row else None
        if current != if_match:
            return False
        now = now_iso()
        if current is None:
            db.execute(
                "INSERT INTO docs (kind, key, body, etag, created, modified) VALUES (?,?,?,?,?,?)",
                (kind, key, json.dumps(body), new_etag(), now, now),
            )
        else:
            db.execute(
                "UPDATE docs SET body=?, etag=?, modified=? WHERE kind=? AND key=?",
                (json.dumps(body), new_etag(), now, kind, key),
            )
        _insert_events(db, events)
    return True
