"""Reading and writing files without surprises: regular files only, size limits, exclusive atomic writes.

- `open_regular(path, max_bytes=...)` opens a file for reading without blocking (a FIFO never hangs the
  caller) and refuses anything but a regular file (folders, FIFOs, devices such as /dev/zero, sockets)
  and files above `max_bytes`; `follow_symlinks=False` refuses a symbolic link as well (O_NOFOLLOW).
  `read_limited` reads it whole, re-checking the limit while reading (the file may grow meanwhile).
- `atomic_writer(path)` / `atomic_write(path, data)` write a temporary file created exclusively (O_EXCL,
  random name, in the target's folder), give it the mode a new file gets under the process umask, fsync
  it and rename it over the target. On any failure the temporary file is removed and the target is
  untouched. A symbolic link planted at the target or at a guessable temporary name is never followed:
  the rename replaces a link at the target, it never writes through it.
- `safe_name(text)` turns text taken from traces (task names, doc ids, video names) into one file-name
  component: no path separators, no leading dots, bounded length.
- `probe_writable_folder(folder)` creates (if needed) and test-writes a folder, so a command can refuse
  an unwritable output before any model loads.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

MIB = 1 << 20
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class FileCheckError(ValueError):
    """A file that must not be read as asked: not a regular file, too large, a symlink.

    str(): the full message naming the file; `reason`: what is wrong, without the file name.
    """

    def __init__(self, path: str | os.PathLike, what: str, reason: str):
        super().__init__(f"Invalid {what} {path}: {reason}")
        self.path, self.reason = path, reason


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def human_size(n: int) -> str:
    """1536 -> '1.5 KiB' (binary units)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def open_regular(path: str | os.PathLike, *, max_bytes: int | None, what: str = "file",
                 follow_symlinks: bool = True) -> IO[bytes]:
    """A binary reader of `path`, which must be a regular file of at most `max_bytes` (None: no limit).

    Raises FileNotFoundError / PermissionError (OSError) as open() does, and FileCheckError naming the
    file (`what` says what it is, e.g. "trace file") for a non-regular file, a symlink when
    follow_symlinks is False, or a file over the limit.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise FileCheckError(path, what, "a symbolic link. Expected a regular file.") from exc
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileCheckError(path, what, f"{_kind(info.st_mode)}. Expected a regular file.")
        if max_bytes is not None and info.st_size > max_bytes:
            raise FileCheckError(path, what, f"{human_size(info.st_size)}, above the limit of "
                                                 f"{human_size(max_bytes)}. Expected a smaller file.")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(path: str | os.PathLike, *, max_bytes: int, what: str = "file",
                 follow_symlinks: bool = True) -> bytes:
    """The bytes of the regular file `path` (see open_regular); a file that grows past max_bytes is refused."""
    with open_regular(path, max_bytes=max_bytes, what=what, follow_symlinks=follow_symlinks) as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileCheckError(path, what, f"grew above the limit of {human_size(max_bytes)} while being read. "
                                         "Expected a smaller file.")
    return data


def current_umask() -> int:
    """The process umask, read without changing it (Linux /proc), else by setting it back at once."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The permission bits a new file gets under the current umask (0o666 & ~umask)."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, text: bool = True, encoding: str = "utf-8",
                  fsync: bool = True) -> Iterator[IO]:
    """Write `path` atomically: yields a handle on an exclusive temporary file next to it (see module doc).

    The temporary file is named `.<target name>.<random>.tmp`; it is removed if the block raises.
    fsync=False skips forcing the data to disk before the rename, for files that are cheap to make again
    (the report's thumbnails): after a power loss such a file may be empty or truncated.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or Path("."))
    try:
        os.fchmod(fd, new_file_mode())
        with os.fdopen(fd, "w" if text else "wb", **({"encoding": encoding} if text else {})) as handle:
            yield handle
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike, data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Write `data` (str or bytes) to `path` atomically (see atomic_writer); returns the path."""
    with atomic_writer(path, text=isinstance(data, str), encoding=encoding) as handle:
        handle.write(data)
    return Path(path)


def safe_name(text: object, *, max_len: int = 120, fallback: str = "x") -> str:
    """`text` as one file-name component: runs of characters other than A-Z a-z 0-9 . _ - become "_",
    leading dots are dropped (no "..", no hidden files), at most max_len characters; "" -> fallback."""
    name = _UNSAFE_NAME_CHARS.sub("_", str(text)).lstrip(".")[:max_len]
    return name or fallback


def probe_writable_folder(folder: str | os.PathLike) -> Path:
    """Create `folder` (and its parents) if needed and check that a file can be created in it.

    Raises NotADirectoryError / FileExistsError when the path (or a parent) is a file, and the OSError of
    the failed test write (PermissionError, read-only file system, ...) otherwise.
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(path))
    path.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".air-write-test-", dir=path)
    os.close(fd)
    os.unlink(probe)
    return path


__all__ = ["MIB", "FileCheckError", "atomic_write", "atomic_writer", "current_umask", "human_size",
           "new_file_mode", "open_regular", "probe_writable_folder", "read_limited", "safe_name"]
