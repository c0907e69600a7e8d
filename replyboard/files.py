"""Opening a user's file for reading: regular files only, so a FIFO, a device or a socket never blocks a load.

Opening a FIFO with no writer blocks forever and reading /dev/zero never ends, so every input (exports,
mappings, settings, the warehouse) is opened with open_regular: O_NONBLOCK so the open itself cannot block,
then fstat on the descriptor actually opened (checking the path first and opening it after would race).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotARegularFile(OSError):
    """The path names a FIFO, a device or a socket: reading it could block forever or never end."""

    def __init__(self, path: str | os.PathLike[str], mode: int) -> None:
        kind = next((name for test, name in _KINDS if test(mode)), "not a file")
        super().__init__(errno.EINVAL, f"not a regular file: {kind}; only regular files are read", str(path))


def check_regular(path: str | os.PathLike[str]) -> os.stat_result:
    """stat() of a regular file (symlinks followed); NotARegularFile, IsADirectoryError or the OSError otherwise."""
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    if not stat.S_ISREG(st.st_mode):
        raise NotARegularFile(path, st.st_mode)
    return st


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """The file opened for binary reading, when it is a regular file (see the module docstring)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        check_regular(path)  # a socket fails to open with ENXIO: say what it is instead
        raise
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise NotARegularFile(path, mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    with open_regular(path) as fh:
        return fh.read()


def read_text(path: str | os.PathLike[str], encoding: str = "utf-8-sig") -> str:
    """The whole file as text (a BOM dropped); UnicodeDecodeError when it is not in that encoding."""
    return read_bytes(Path(path)).decode(encoding)
