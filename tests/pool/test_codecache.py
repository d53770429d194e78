"""The code cache unpacks safely: no zip-slip, no escaping symlinks, checksum verified."""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile

import pytest

from openfc.errors import InstanceError


def zip_with(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            z.writestr(info, content)
    return buf.getvalue()


@pytest.mark.parametrize(
    "entry",
    [
        ("../evil.py", "x", 0o100644),
        ("/abs/evil.py", "x", 0o100644),
        ("a/../../evil.py", "x", 0o100644),
        ("link", "../../../../etc/passwd", stat.S_IFLNK | 0o777),
        ("abslink", "/etc/passwd", stat.S_IFLNK | 0o777),
    ],
)
def test_unsafe_entries_reject_the_package(harness, entry):
    pool = harness.pool()
    data = zip_with([("index.py", "def handler(e, c): return 'x'\n", 0o100644), entry])
    digest = hashlib.sha256(data).hexdigest()
    harness.blobs[digest] = data
    with pytest.raises(InstanceError, match="outside|escapes"):
        harness.invoke(pool, harness.spec(digest))
    assert not (pool.data_dir / "code" / digest).exists()
    assert not (pool.data_dir / "evil.py").exists() and not (pool.data_dir / "code" / "evil.py").exists()
    assert [p.name for p in (pool.data_dir / "code").iterdir()] == []


def test_inner_symlinks_and_executables_survive(harness):
    pool = harness.pool()
    data = zip_with(
        [
            (
                "real.py",
                "import subprocess\ndef handler(e, c):\n    return subprocess.check_output(['./run.sh'])\n",
                0o100644,
            ),
            ("index.py", "real.py", stat.S_IFLNK | 0o777),
            ("run.sh", "#!/bin/sh\necho ran\n", 0o100755),
        ]
    )
    digest = hashlib.sha256(data).hexdigest()
    harness.blobs[digest] = data
    result = harness.invoke(pool, harness.spec(digest))
    assert (result.failure, result.body) == (None, b"ran\n")


def test_checksum_mismatch_is_rejected(harness):
    pool = harness.pool()
    digest = harness.code({"index.py": "def handler(e, c): return 'x'\n"})
    wrong = "0" * 64
    harness.blobs[wrong] = harness.blobs[digest]
    with pytest.raises(InstanceError, match="checksum"):
        harness.invoke(pool, harness.spec(wrong))


def test_not_a_zip_is_rejected(harness):
    pool = harness.pool()
    data = b"definitely not a zip"
    digest = hashlib.sha256(data).hexdigest()
    harness.blobs[digest] = data
    with pytest.raises(InstanceError, match="not a valid zip"):
        harness.invoke(pool, harness.spec(digest))
