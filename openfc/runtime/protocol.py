"""Frames spoken between the pool and an instance's bootstrap over one Unix socket (stdlib only).

Every frame is a 9-byte header ``>IBI`` (payload length, kind, call id) followed by the payload.
Call ids multiplex concurrent calls on one instance; id 0 means "the instance itself".

    pool -> instance   INIT    payload = call meta (the initializer runs once)
                       INVOKE  payload = call meta + event bytes
                       HTTP    payload = call meta + ``pack_http`` (method, path, query, headers, ...) + body
    instance -> pool   READY   payload = b""  (interpreter up, accepting frames)
                       LOG     payload = log bytes written by call ``call_id`` (0: unattributed)
                       RESULT  payload = ``>BI`` status, max RSS in KB, then the body
                               (for HTTP calls with status OK, the body is ``pack_http`` {status, headers} + body)

Call meta is ``>H`` length + ``request_id \\0 qualifier \\0 trace_id`` (utf-8), then the event.
This module is copied next to the bootstrap into the data dir; it must only import the stdlib.
"""

from __future__ import annotations

import struct

HEADER = struct.Struct(">IBI")
RESULT_HEAD = struct.Struct(">BI")
META_LEN = struct.Struct(">H")
MAX_FRAME = 256 * 1024 * 1024

#: frame kinds
READY = 1
INIT = 2
INVOKE = 3
LOG = 4
RESULT = 5
HTTP = 6

#: result statuses
OK = 0
#: the handler (or initializer, or the import of the module) raised; body is the error JSON
ERROR = 1
#: MemoryError under the RLIMIT_AS fallback; the instance exits after sending this
OOM = 2


def pack(kind: int, call_id: int, payload: bytes = b"") -> bytes:
    """One frame, ready to write."""
    return HEADER.pack(len(payload), kind, call_id) + payload


def pack_call(kind: int, call_id: int, request_id: str, qualifier: str, trace_id: str, event: bytes) -> bytes:
    """An INIT or INVOKE frame."""
    meta = f"{request_id}\0{qualifier}\0{trace_id}".encode()
    payload = META_LEN.pack(len(meta)) + meta + event
    return HEADER.pack(len(payload), kind, call_id) + payload


def unpack_call(payload: bytes) -> tuple[str, str, str, bytes]:
    """``(request_id, qualifier, trace_id, event)`` of an INIT or INVOKE payload."""
    (n,) = META_LEN.unpack_from(payload)
    request_id, qualifier, trace_id = payload[2 : 2 + n].decode().split("\0")
    return request_id, qualifier, trace_id, payload[2 + n :]


def pack_result(call_id: int, status: int, max_rss_kb: int, body: bytes) -> bytes:
    payload = RESULT_HEAD.pack(status, max_rss_kb & 0xFFFFFFFF) + body
    return HEADER.pack(len(payload), RESULT, call_id) + payload


def unpack_result(payload: bytes) -> tuple[int, int, bytes]:
    """``(status, max_rss_kb, body)`` of a RESULT payload."""
    status, rss = RESULT_HEAD.unpack_from(payload)
    return status, rss, payload[RESULT_HEAD.size :]


HTTP_HEAD_LEN = struct.Struct(">I")


def pack_http(head: dict[str, object], body: bytes) -> bytes:
    """A JSON head (request or response line and headers) and a raw body, in one blob."""
    import json

    raw = json.dumps(head, separators=(",", ":")).encode()
    return HTTP_HEAD_LEN.pack(len(raw)) + raw + body


def unpack_http(blob: bytes) -> tuple[dict[str, object], bytes]:
    import json

    (n,) = HTTP_HEAD_LEN.unpack_from(blob)
    return json.loads(blob[4 : 4 + n]), blob[4 + n :]
