"""Console sessions: ``<key_id>.<expiry>.<hmac>`` cookies signed with the access key's own secret.

Rotating or removing a key ends its sessions; the secret itself never leaves the server.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

COOKIE = "openfc_console"
#: How long a login lasts (seconds).
TTL = 12 * 3600


def _mac(secret: str, key_id: str, expiry: int) -> str:
    message = f"openfc-console\n{key_id}\n{expiry}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def check_login(keys: Mapping[str, str], key_id: str, secret: str) -> bool:
    """The key pair is one the platform knows (constant time in the secret)."""
    known = keys.get(key_id)
    return known is not None and hmac.compare_digest(known.encode(), secret.encode())


def issue(keys: Mapping[str, str], key_id: str, *, now: float | None = None, ttl: int = TTL) -> str:
    expiry = int(now if now is not None else time.time()) + ttl
    return f"{key_id}.{expiry}.{_mac(keys[key_id], key_id, expiry)}"


def verify(keys: Mapping[str, str], token: str | None, *, now: float | None = None) -> str | None:
    """The access key id of a valid, unexpired token; ``None`` otherwise."""
    if not token:
        return None
    rest = token.rsplit(".", 2)
    if len(rest) != 3 or not rest[1].isdigit():
        return None
    key_id, expiry_text, mac = rest
    secret = keys.get(key_id)
    expiry = int(expiry_text)
    if secret is None or expiry < (now if now is not None else time.time()):
        return None
    return key_id if hmac.compare_digest(mac, _mac(secret, key_id, expiry)) else None
