"""Files the user names (the inventory, its .env, a CA): regular files only, read with a bound.

A FIFO would hang `open()`, `/dev/zero` would be read whole before any size check: the file is
opened without blocking, must be a regular file (after symlinks), and is read up to its bound.
"""

import os
import stat
from pathlib import Path


class NotReadable(Exception):
    """Why the file cannot be used, in words (never its content)."""


class IsAFolder(NotReadable):
    pass


class TooLarge(NotReadable):
    pass


def read_regular(path: Path, limit: int) -> bytes:
    """The file's bytes; NotReadable for a folder, a special file, an unreadable or oversized file.
    FileNotFoundError passes through: a missing file is the caller's to judge."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise IsAFolder("is a folder, not a file") from None
    except OSError as error:
        raise NotReadable(f"cannot read: {error.strerror or type(error).__name__}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsAFolder("is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise NotReadable("is not a regular file (a pipe, a device or a socket)")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        raise NotReadable(f"cannot read: {error.strerror or type(error).__name__}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise TooLarge(f"is larger than {limit:,} bytes")
    return b"".join(chunks)
