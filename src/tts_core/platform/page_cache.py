"""Advice to the kernel's page cache about whole files (posix_fadvise): read ahead, or drop."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def advise(paths: Iterable[Path], advice: int) -> int:
    """posix_fadvise(advice) over each whole file, e.g. os.POSIX_FADV_WILLNEED (the kernel starts reading
    it in the background) or os.POSIX_FADV_DONTNEED (its clean pages are dropped). Files that cannot be
    opened are skipped; returns how many were advised."""
    count = 0
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, advice)
            count += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return count
