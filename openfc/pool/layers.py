"""Layers as instances see them: the layers of a function merged in order into one read-only ``/opt`` tree.

Each layer version is unpacked once (``CodeCache``, shared read-only). A function's ordered list of layer
digests is merged once into ``<data_dir>/layers/merged/<sha256 of the list>/`` with hard links (copies across
file systems); a later layer's file replaces an earlier one's (the LATER layer wins), a single layer is used
as is. When the pool runs as root each instance gets a private mount namespace with that tree bind-mounted
read-only at ``/opt`` (``opt_namespace``, run in the child between fork and exec); without root instances use
the merged directory's own path instead (its ``python`` dirs on ``sys.path``, ``bin`` on PATH, ``lib`` on
LD_LIBRARY_PATH) and ``/opt`` is the host's.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

CLONE_NEWNS = 0x00020000
MS_RDONLY = 1
MS_NOSUID = 2
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
OPT = b"/opt"

_libc: ctypes.CDLL | None = None


def _load_libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.unshare.argtypes = [ctypes.c_int]
        libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
        _libc = libc
    return _libc


def opt_namespace(opt_dir: Path, uid: int | None) -> Callable[[], None]:
    """A ``preexec_fn``: new mount namespace, ``opt_dir`` bind-mounted read-only at /opt, then drop to ``uid``.

    Popen's ``user=`` applies before ``preexec_fn`` and the mount needs root, so this sets the groups, gid and
    uid itself, last. Everything it calls is resolved before the fork.
    """
    libc = _load_libc()
    unshare, mount = libc.unshare, libc.mount
    source = os.fsencode(opt_dir)
    setgroups, setgid, setuid, get_errno = os.setgroups, os.setgid, os.setuid, ctypes.get_errno

    def setup() -> None:
        if unshare(CLONE_NEWNS) != 0:
            raise OSError(get_errno(), "unshare(CLONE_NEWNS) failed")
        if mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            raise OSError(get_errno(), "making / private failed")
        if mount(source, OPT, None, MS_BIND | MS_REC, None) != 0:
            raise OSError(get_errno(), "bind-mounting the layers at /opt failed")
        if mount(None, OPT, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID, None) != 0:
            raise OSError(get_errno(), "remounting /opt read-only failed")
        if uid is not None:
            setgroups([])
            setgid(uid)
            setuid(uid)

    return setup


def can_mount_opt() -> bool:
    """Whether instances can get a private ``/opt`` here (root, /opt exists, mount namespaces allowed)."""
    if os.geteuid() != 0 or not os.path.isdir("/opt"):
        return False
    probe = tempfile.mkdtemp(prefix="openfc-opt-probe-")
    try:
        marker = Path(probe) / "openfc-probe"
        marker.write_text("")
        result = subprocess.run(
            ["/bin/sh", "-c", "test -e /opt/openfc-probe"], preexec_fn=opt_namespace(Path(probe), None), check=False
        )
        return result.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def merged_name(digests: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


def merge(layer_dirs: Sequence[Path], dest: Path) -> Path:
    """Merge ``layer_dirs`` in order into ``dest`` (later layers win), once; returns ``dest``."""
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(dest.parent, 0o711)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{dest.name}-", dir=dest.parent))
    try:
        for layer in layer_dirs:
            _overlay(layer, tmp)
        for dirpath, _, _ in os.walk(tmp):
            os.chmod(dirpath, 0o555)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not dest.is_dir():
                raise
    finally:
        if tmp.exists():
            _rmtree(tmp)
    return dest


def _overlay(src: Path, dst: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target_dir = dst if rel == "." else dst / rel
        entries = list(filenames)
        for name in list(dirnames):
            if os.path.islink(os.path.join(dirpath, name)):
                entries.append(name)  # a symlink to a directory is copied as a link, not entered
                dirnames.remove(name)
            else:
                sub = target_dir / name
                if sub.is_symlink() or (sub.exists() and not sub.is_dir()):
                    sub.unlink()
                sub.mkdir(mode=0o755, exist_ok=True)
                os.chmod(sub, 0o755)
        for name in entries:
            source = os.path.join(dirpath, name)
            target = target_dir / name
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.is_dir():
                _rmtree(target)
            if stat.S_ISLNK(os.lstat(source).st_mode):
                os.symlink(os.readlink(source), target)
                continue
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)


def _rmtree(path: Path) -> None:
    for dirpath, _, _ in os.walk(path):
        os.chmod(dirpath, 0o700)
    shutil.rmtree(path, ignore_errors=True)
