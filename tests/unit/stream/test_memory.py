"""stream_guard.stream.memory: malloc_trim is found and called on glibc, skipped elsewhere."""

from __future__ import annotations

import platform

from stream_guard.stream.memory import release_free_memory


def test_free_memory_is_released_on_glibc_and_skipped_elsewhere() -> None:
    glibc = platform.libc_ver()[0] == "glibc"
    assert release_free_memory() is glibc
    assert release_free_memory() is glibc  # safe to call again (after every checkpoint pass)
