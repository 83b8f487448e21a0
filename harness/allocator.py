"""glibc's malloc, told to keep a long run's resident memory flat.

Each second the harness may build and drop histogram count arrays of ~184 KB (a
second's sum of several workers' ticks, a name's first interval histogram, the
summing of a Locust board or live gate). glibc serves
blocks that large with mmap at first, but its *dynamic* threshold rises past them
the first time one is freed, and from then on they come from the heap, between
small long-lived objects: the heap fragments and the process's resident memory
creeps up by megabytes a minute over a soak (`bench/soak_memory.py`). Fixing the
threshold at 128 KiB (glibc's own default, made static) keeps such blocks in mmap,
returned to the system the moment they are freed; the cost is a couple of hundred
mmap/munmap calls a second.

``settle()`` sets it for this process (``mallopt``) and, through
``MALLOC_MMAP_THRESHOLD_``, for every process it starts (workers, the embedded
controller, a Locust engine). A value the user already set is kept. Elsewhere than
glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

MMAP_THRESHOLD = 128 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h
_ENV = "MALLOC_MMAP_THRESHOLD_"


def settle() -> None:
    if not sys.platform.startswith("linux"):
        return
    if _ENV in os.environ:  # the user's choice; glibc read it at this process's start
        return
    os.environ[_ENV] = str(MMAP_THRESHOLD)
    try:
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError):  # not glibc (or no mallopt): nothing to tune
        pass
