"""Layers: merged in order into one read-only tree at /opt (the later layer wins), shared by all instances."""

from __future__ import annotations

import json
import os

import pytest

from openfc.pool import sandbox

PROBE = """
import json, os, sys
def handler(event, context):
    import shared, onlyinlayer, sitepkg
    out = {"shared": shared.WHO, "only": onlyinlayer.VALUE, "site": sitepkg.VALUE, "path": sys.path,
           "PATH": os.environ["PATH"], "LD": os.environ["LD_LIBRARY_PATH"], "opt": sorted(os.listdir("/opt"))}
    try:
        open("/opt/python/new.py", "w")
        out["write"] = "ok"
    except OSError as e:
        out["write"] = type(e).__name__
    return json.dumps(out)
"""
_MAJOR, _MINOR = sandbox.interpreter_version(sandbox.interpreter()) or (3, 11)
SITE_DIR = f"python/lib/python{_MAJOR}.{_MINOR}/site-packages"
SITE = f"{SITE_DIR}/sitepkg.py"


def layer_a(harness):
    return harness.code(
        {
            "python/shared.py": "WHO = 'a'\n",
            "python/onlyinlayer.py": "VALUE = 42\n",
            "bin/tool": "#!/bin/sh\necho a\n",
            SITE: "VALUE = 'site-a'\n",
        },
        executable=("bin/tool",),
    )


def layer_b(harness):
    return harness.code({"python/shared.py": "WHO = 'b'\n", SITE: "VALUE = 'site-b'\n"})


root_only = pytest.mark.skipif(os.geteuid() != 0, reason="a private /opt needs root (mount namespace)")


@root_only
def test_later_layer_wins_and_opt_is_private_and_read_only(harness):
    pool = harness.pool()
    a, b = layer_a(harness), layer_b(harness)
    spec = harness.spec(harness.code({"index.py": PROBE}), layers=(a, b))
    result = harness.invoke(pool, spec)
    assert result.failure is None, result.body
    out = json.loads(result.body)
    assert out["shared"] == "b" and out["only"] == 42 and out["site"] == "site-b"
    assert out["opt"] == ["bin", "python"]  # the host's /opt is not visible
    assert "/opt/python" in out["path"] and f"/opt/{SITE_DIR}" in out["path"]
    assert "/opt/bin" in out["PATH"].split(":") and "/opt/lib" in out["LD"].split(":")
    assert out["write"] in ("OSError", "PermissionError")
    assert os.listdir("/opt") != ["bin", "python"]  # the platform's own /opt is untouched

    reversed_spec = harness.spec(harness.code({"index.py": PROBE}), function="other", layers=(b, a))
    assert json.loads(harness.invoke(pool, reversed_spec).body)["shared"] == "a"


def test_layers_are_unpacked_and_merged_once(harness):
    pool = harness.pool()
    a, b = layer_a(harness), layer_b(harness)
    code = harness.code({"index.py": PROBE})
    for name in ("f1", "f2", "f3"):
        result = harness.invoke(pool, harness.spec(code, function=name, layers=(a, b)))
        assert json.loads(result.body)["shared"] == "b"
    assert harness.fetches.count(a) == 1 and harness.fetches.count(b) == 1
    assert len(os.listdir(pool.data_dir / "layers" / "merged")) == 1


def test_without_a_mount_namespace_the_merged_dir_is_on_sys_path(harness):
    pool = harness.pool()
    pool._mount_opt = False  # what a node without root does
    a, b = layer_a(harness), layer_b(harness)
    probe = PROBE.replace('sorted(os.listdir("/opt"))', '""').replace('"/opt/python/new.py"', '"/nonexistent/x"')
    result = harness.invoke(pool, harness.spec(harness.code({"index.py": probe}), layers=(a, b)))
    out = json.loads(result.body)
    merged = str(pool.data_dir / "layers" / "merged")
    assert out["shared"] == "b" and out["only"] == 42 and out["site"] == "site-b"
    assert any(p.startswith(merged) and p.endswith("/python") for p in out["path"])


@root_only
def test_custom_runtime_sees_layers_at_opt(harness):
    from .custom_servers import PYTHON

    pool = harness.pool()
    indent = " " * 16
    layer_cmd = f'if cmd == "layer":\n{indent}import shared\n{indent}return self.reply(200, shared.WHO.encode())\n'
    server = PYTHON.replace('if cmd == "state":', layer_cmd + '            if cmd == "state":')
    spec = harness.spec(harness.code({"server.py": server}), runtime="custom", custom_command=("python3", "server.py"),
                        layers=(layer_a(harness), layer_b(harness)))  # fmt: skip
    result = harness.invoke(pool, spec, b"layer")
    assert result.failure is None and result.body == b"b"
