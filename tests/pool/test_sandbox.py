"""The sandbox: own uid per code digest, no access to the store or other functions' code, network allowed."""

from __future__ import annotations

import asyncio
import json
import os
import stat

import pytest

from openfc.pool import CallContext

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root")

PROBE = """
import json, os, socket
def handler(event, context):
    args = json.loads(event)
    out = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups()}
    for name, path in args["read"].items():
        try:
            with open(path, "rb") as f:
                out[name] = f.read().decode()
        except OSError as e:
            out[name] = type(e).__name__
    try:
        os.listdir(args["list"])
        out["list"] = "ok"
    except OSError as e:
        out["list"] = type(e).__name__
    try:
        open(os.path.join(os.getcwd(), "new.txt"), "w")
        out["write_code"] = "ok"
    except OSError as e:
        out["write_code"] = type(e).__name__
    with open("/tmp/openfc-sandbox-probe-%d" % os.getpid(), "w") as f:
        f.write("x")
    os.unlink(f.name)
    with socket.create_connection(("127.0.0.1", args["port"]), timeout=5) as s:
        out["net"] = s.recv(100).decode()
    return out
"""


def test_function_cannot_read_the_store_or_other_code_but_can_use_the_network(harness):
    pool = harness.pool()
    data_dir = pool.data_dir
    secret = data_dir / "openfc.db"
    secret.write_text("store secrets")
    os.chmod(secret, 0o600)
    other = harness.code({"index.py": "def handler(e, c): return 'other secret code'\n"})
    probe = harness.code({"index.py": PROBE})
    assert harness.invoke(pool, harness.spec(other, function="other")).body == b"other secret code"

    async def scenario():
        async def greet(reader, writer):
            writer.write(b"hello from the host")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(greet, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        event = {
            "read": {
                "store": str(secret),
                "other_code": str(data_dir / "code" / other / "index.py"),
                "own_code": "index.py",
                "sandbox_map": str(data_dir / "sandbox" / "uids.json"),
            },
            "list": str(data_dir / "code"),
            "port": port,
        }
        async with server:
            return await pool.invoke(
                harness.spec(probe, function="probe"), json.dumps(event).encode(), CallContext("r"), max_instances=1
            )

    result = harness.run(scenario())
    assert result.failure is None, result.body
    out = json.loads(result.body)
    assert out["uid"] >= 200000 and out["gid"] == out["uid"] and out["groups"] in ([], [out["gid"]])
    assert out["store"] == "PermissionError"
    assert out["other_code"] == "PermissionError"
    assert out["sandbox_map"] == "PermissionError"
    assert out["list"] == "PermissionError"
    assert out["own_code"] == PROBE
    assert out["write_code"] == "PermissionError"
    assert out["net"] == "hello from the host"


def test_directory_modes(harness):
    pool = harness.pool()
    digest = harness.code({"index.py": "def handler(e, c): return 'x'\n", "bin/tool": "#!/bin/sh\n"})
    harness.invoke(pool, harness.spec(digest))

    def mode(path):
        return stat.S_IMODE(os.stat(path).st_mode)

    code = pool.data_dir / "code" / digest
    assert mode(pool.data_dir) == 0o711
    assert mode(pool.data_dir / "code") == 0o711
    assert mode(pool.data_dir / "sandbox") == 0o700
    assert mode(code) == 0o550 and mode(code / "index.py") == 0o440
    assert os.stat(code).st_uid == 0 and os.stat(code).st_gid >= 200000


def test_each_digest_gets_its_own_uid_and_keeps_it(harness):
    pool = harness.pool()
    first = harness.code({"index.py": "import os\ndef handler(e, c): return str(os.getuid())\n"})
    second = harness.code({"index.py": "import os\ndef handler(e, c): return str(os.getuid()) \n"})
    a = harness.invoke(pool, harness.spec(first, function="a")).body
    b = harness.invoke(pool, harness.spec(second, function="b")).body
    assert a != b
    again = harness.pool(data_dir=pool.data_dir)
    assert harness.invoke(again, harness.spec(first, function="a")).body == a


def test_unsandboxed_pool_runs_as_the_current_user(harness):
    pool = harness.pool(sandbox=False)
    digest = harness.code({"index.py": "import os\ndef handler(e, c): return str(os.getuid())\n"})
    assert harness.invoke(pool, harness.spec(digest)).body == str(os.getuid()).encode()


def test_data_dir_below_a_closed_parent_still_runs_sandboxed(harness, tmp_path):
    # The README's `--data-dir ./openfc-data` may sit under /root (0700): instances cannot reach it,
    # so code and the runtime are unpacked under /var/lib/openfc instead; the store stays put.
    os.chmod(tmp_path, 0o700)
    pool = harness.pool(data_dir=tmp_path / "data")
    secret = tmp_path / "data" / "openfc.db"
    secret.write_text("store secrets")
    os.chmod(secret, 0o600)
    src = "import os\ndef handler(e, c):\n    try:\n        open(e.decode()).read()\n        return 'read'\n"
    src += "    except OSError as x:\n        return type(x).__name__ + ' ' + str(os.getuid()) + ' ' + os.getcwd()\n"
    digest = harness.code({"index.py": src})
    body = harness.invoke(pool, harness.spec(digest), payload=str(secret).encode()).body.decode()
    error, uid, cwd = body.split(" ")
    assert error == "PermissionError" and int(uid) != 0
    assert cwd.startswith("/var/lib/openfc/") and not cwd.startswith(str(tmp_path))
