"""The SQLite async queue: blocking transactions run one at a time on the store's queue thread.

Each function here is one transaction on the queue connection (``BEGIN IMMEDIATE`` … ``COMMIT``),
so a whole group of enqueues or settlements costs one commit.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from openfc.store.queue import (
    EVENT_COLUMNS,
    FINAL,
    LETTER_COLUMNS,
    MAX_RECORD_RESPONSE,
    RECORD_COLUMNS,
    DeadLetter,
    InvocationRecord,
    InvocationStatus,
    NewEvent,
    QueuedEvent,
    Settlement,
)

#: Schema of the queue, appended to ``sqlite.MIGRATIONS``.
MIGRATION = """
CREATE TABLE queue (
    id TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    owner TEXT NOT NULL,
    request_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    meta TEXT NOT NULL,
    stateful INTEGER NOT NULL,
    created REAL NOT NULL,
    due REAL NOT NULL,
    lease_until REAL NOT NULL DEFAULT 0,
    token TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    system_errors INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queue_target_due ON queue (target, due);
CREATE INDEX queue_due ON queue (due);
CREATE TABLE dead_letters (
    id TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    owner TEXT NOT NULL,
    request_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    meta TEXT NOT NULL,
    stateful INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created REAL NOT NULL,
    failed REAL NOT NULL
);
CREATE INDEX dead_letters_owner ON dead_letters (owner, id);
CREATE TABLE invocations (
    function TEXT NOT NULL,
    id TEXT NOT NULL,
    qualifier TEXT NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    payload BLOB NOT NULL,
    response BLOB,
    events TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (function, id)
);
CREATE INDEX invocations_created ON invocations (function, created)
"""

_APPEND_EVENT = "events=json_insert(events, '$[#]', json_object('status', ?, 'timestamp', ?, 'eventDetail', ?))"


def connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=30000")
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _ms(t: float) -> int:
    return int(t * 1000)


def _insert_events(db: sqlite3.Connection, events: Sequence[NewEvent]) -> list[bool]:
    stateful = [e for e in events if e.stateful_id is not None]
    duplicate: set[str] = set()
    if stateful:
        db.executemany(
            "INSERT OR IGNORE INTO invocations (function, id, qualifier, event_id, request_id, status, created, "
            "payload, events) VALUES (?,?,?,?,?,?,?,?,json_array(json_object('status', ?, 'timestamp', ?, "
            "'eventDetail', '')))",
            [
                (e.record_function, e.stateful_id, e.qualifier, e.id, e.request_id, "Enqueued", e.created, e.payload)
                + ("Enqueued", _ms(e.created))
                for e in stateful
            ],
        )
        for e in stateful:
            row = db.execute(
                "SELECT event_id FROM invocations WHERE function=? AND id=?", (e.record_function, e.stateful_id)
            ).fetchone()
            if row is None or row[0] != e.id:
                duplicate.add(e.id)
    db.executemany(
        "INSERT INTO queue (id, target, owner, request_id, trace_id, payload, meta, stateful, created, due) "
        "VALUES (?,?,?,?,?,?,?,?,?,?)",
        [
            (
                e.id,
                e.target,
                e.owner or e.target,
                e.request_id,
                e.trace_id,
                e.payload,
                json.dumps(e.meta),
                int(e.stateful_id is not None),
                e.created,
                e.due or e.created,
            )  # fmt: skip
            for e in events
            if e.id not in duplicate
        ],
    )
    return [e.id not in duplicate for e in events]


def enqueue(db: sqlite3.Connection, events: Sequence[NewEvent]) -> list[bool]:
    with transaction(db):
        return _insert_events(db, events)


def ready(db: sqlite3.Connection, now: float) -> list[str]:
    rows = db.execute("SELECT DISTINCT target FROM queue WHERE due<=? AND lease_until<=?", (now, now)).fetchall()
    return [r[0] for r in rows]


def next_due(db: sqlite3.Connection, now: float) -> float | None:
    row = db.execute("SELECT MIN(due) FROM queue WHERE due>? AND lease_until<=?", (now, now)).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def _event(row: Sequence[Any]) -> QueuedEvent:
    id_, target, owner, payload, request_id, trace_id, created, attempts, failures, system, token, stateful, meta = row
    return QueuedEvent(
        id_, target, owner, bytes(payload), request_id, trace_id, created, attempts, failures, system, token,
        bool(stateful), json.loads(meta),
    )  # fmt: skip


def claim(db: sqlite3.Connection, target: str, limit: int, now: float, lease_until: float) -> list[QueuedEvent]:
    token = uuid.uuid4().hex
    with transaction(db):
        rows = db.execute(
            f"UPDATE queue SET lease_until=?, token=?, attempts=attempts+1 WHERE id IN "
            f"(SELECT id FROM queue WHERE target=? AND due<=? AND lease_until<=? ORDER BY due LIMIT ?) "
            f"RETURNING {EVENT_COLUMNS}",
            (lease_until, token, target, now, now, limit),
        ).fetchall()
        events = sorted((_event(r) for r in rows), key=lambda e: e.created)
        stateful = [e for e in events if e.stateful]
        if stateful:
            db.executemany(
                f"UPDATE invocations SET status='Running', started=COALESCE(started, ?), attempts=?, {_APPEND_EVENT} "
                f"WHERE event_id=? AND status IN ('Enqueued', 'Retrying', 'Running')",
                [(now, e.attempts, "Running", _ms(now), "", e.id) for e in stateful],
            )
    return events


def extend(db: sqlite3.Connection, claims: Sequence[tuple[str, str]], lease_until: float) -> None:
    with transaction(db):
        db.executemany(
            "UPDATE queue SET lease_until=? WHERE id=? AND token=?", [(lease_until, i, t) for i, t in claims]
        )


def release(db: sqlite3.Connection, claims: Sequence[tuple[str, str]]) -> None:
    with transaction(db):
        db.executemany(
            "UPDATE queue SET lease_until=0, token='', attempts=MAX(attempts-1, 0) WHERE id=? AND token=?",
            list(claims),
        )


def settle(db: sqlite3.Connection, settlements: Sequence[Settlement]) -> list[bool]:
    applied: list[bool] = []
    with transaction(db):
        for s in settlements:
            e = s.event
            if s.status is InvocationStatus.RETRYING:
                cur = db.execute(
                    "UPDATE queue SET due=?, lease_until=0, token='', failures=?, system_errors=? "
                    "WHERE id=? AND token=?",
                    (s.due, s.failures, s.system_errors, e.id, e.token),
                )
            else:
                cur = db.execute("DELETE FROM queue WHERE id=? AND token=?", (e.id, e.token))
            if cur.rowcount == 0:
                applied.append(False)
                continue
            applied.append(True)
            if s.status.dead:
                db.execute(
                    "INSERT OR REPLACE INTO dead_letters (id, target, owner, request_id, trace_id, payload, meta, "
                    "stateful, status, error, attempts, created, failed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        e.id,
                        e.target,
                        e.owner,
                        e.request_id,
                        e.trace_id,
                        e.payload,
                        json.dumps(e.meta),
                        int(e.stateful),
                        s.status.value,
                        s.error,
                        e.attempts,
                        e.created,
                        s.at,
                    ),  # fmt: skip
                )
            if e.stateful:
                response = None if s.response is None else s.response[:MAX_RECORD_RESPONSE]
                ended = None if s.status is InvocationStatus.RETRYING else s.at
                detail = json.dumps({"Error": s.error}) if s.error else ""
                db.execute(
                    f"UPDATE invocations SET status=?, ended=?, error=?, response=?, attempts=?, {_APPEND_EVENT} "
                    f"WHERE event_id=? AND status NOT IN ({','.join('?' * len(FINAL))})",
                    (s.status.value, ended, s.error, response, e.attempts, s.status.value, _ms(s.at), detail, e.id)
                    + tuple(f.value for f in FINAL),
                )
            if s.follow:
                _insert_events(db, s.follow)
    return applied


def recover(db: sqlite3.Connection) -> int:
    with transaction(db):
        cur = db.execute("UPDATE queue SET lease_until=0, token='' WHERE lease_until>0")
        return cur.rowcount


def depth(db: sqlite3.Connection, target: str | None) -> int:
    if target is None:
        row = db.execute("SELECT COUNT(*) FROM queue").fetchone()
    else:
        row = db.execute("SELECT COUNT(*) FROM queue WHERE target=?", (target,)).fetchone()
    return int(row[0])


# -- records ------------------------------------------------------------------------------


def _record(row: Sequence[Any]) -> InvocationRecord:
    function, id_, qualifier, event_id, request_id, status, created, started, ended, attempts = row[:10]
    error, payload, response, events = row[10:]
    return InvocationRecord(
        function, id_, qualifier, event_id, request_id, InvocationStatus(status), created, started, ended, attempts,
        error, bytes(payload), None if response is None else bytes(response), json.loads(events),
    )  # fmt: skip


def invocation_get(db: sqlite3.Connection, function: str, invocation_id: str) -> InvocationRecord | None:
    row = db.execute(
        f"SELECT {RECORD_COLUMNS} FROM invocations WHERE function=? AND id=?", (function, invocation_id)
    ).fetchone()
    return None if row is None else _record(row)


def invocation_list(
    db: sqlite3.Connection,
    function: str,
    qualifier: str | None,
    status: str | None,
    prefix: str,
    created_from: float | None,
    created_to: float | None,
    descending: bool,
    offset: int,
    limit: int,
) -> list[InvocationRecord]:
    where, args = ["function=?"], [function]
    if qualifier is not None:
        where.append("qualifier=?")
        args.append(qualifier)
    if status is not None:
        where.append("status=?")
        args.append(status)
    if prefix:
        where.append("substr(id, 1, ?)=?")
        args += [len(prefix), prefix]  # type: ignore[list-item]
    if created_from is not None:
        where.append("created>=?")
        args.append(created_from)  # type: ignore[arg-type]
    if created_to is not None:
        where.append("created<=?")
        args.append(created_to)  # type: ignore[arg-type]
    order = "DESC" if descending else "ASC"
    rows = db.execute(
        f"SELECT {RECORD_COLUMNS} FROM invocations WHERE {' AND '.join(where)} "
        f"ORDER BY created {order}, id {order} LIMIT ? OFFSET ?",
        (*args, limit, offset),
    ).fetchall()
    return [_record(r) for r in rows]


def invocation_stop(db: sqlite3.Connection, function: str, invocation_id: str, now: float) -> InvocationRecord | None:
    with transaction(db):
        before = invocation_get(db, function, invocation_id)
        if before is None or before.status.final:
            return before
        db.execute(
            f"UPDATE invocations SET status='Stopped', ended=?, {_APPEND_EVENT} WHERE function=? AND id=?",
            (now, "Stopped", _ms(now), "", function, invocation_id),
        )
        db.execute("DELETE FROM queue WHERE id=?", (before.event_id,))
    return before


# -- dead letters -------------------------------------------------------------------------


def _letter(row: Sequence[Any]) -> DeadLetter:
    id_, target, owner, request_id, trace_id, payload, status, error, attempts, created, failed, stateful, meta = row
    return DeadLetter(
        id_, target, owner, request_id, trace_id, bytes(payload), InvocationStatus(status), error, attempts, created,
        failed, bool(stateful), json.loads(meta),
    )  # fmt: skip


def dead_letter_list(db: sqlite3.Connection, owner: str, start: str, limit: int) -> list[DeadLetter]:
    rows = db.execute(
        f"SELECT {LETTER_COLUMNS} FROM dead_letters WHERE owner=? AND id>=? ORDER BY id LIMIT ?",
        (owner, start, limit),
    ).fetchall()
    return [_letter(r) for r in rows]


def dead_letter_get(db: sqlite3.Connection, letter_id: str) -> DeadLetter | None:
    row = db.execute(f"SELECT {LETTER_COLUMNS} FROM dead_letters WHERE id=?", (letter_id,)).fetchone()
    return None if row is None else _letter(row)


def dead_letter_redrive(db: sqlite3.Connection, letter_id: str, now: float) -> DeadLetter | None:
    with transaction(db):
        letter = dead_letter_get(db, letter_id)
        if letter is None:
            return None
        db.execute("DELETE FROM dead_letters WHERE id=?", (letter_id,))
        db.execute(
            "INSERT OR REPLACE INTO queue (id, target, owner, request_id, trace_id, payload, meta, stateful, created, "
            "due) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                letter.id,
                letter.target,
                letter.owner,
                letter.request_id,
                letter.trace_id,
                letter.payload,
                json.dumps(letter.meta),
                int(letter.stateful),
                now,
                now,
            ),  # fmt: skip
        )
        if letter.stateful:
            db.execute(
                f"UPDATE invocations SET status='Enqueued', ended=NULL, error='', response=NULL, attempts=0, "
                f"{_APPEND_EVENT} WHERE event_id=?",
                ("Enqueued", _ms(now), json.dumps({"Redrive": True}), letter.id),
            )
    return letter


def dead_letter_delete(db: sqlite3.Connection, letter_id: str) -> bool:
    with transaction(db):
        return db.execute("DELETE FROM dead_letters WHERE id=?", (letter_id,)).rowcount > 0
