"""A bounded thread pool that keeps gpg and openssl calls off the event loop.

Each gpg or openssl call starts a process and blocks until it ends. Running
them in a fixed number of threads caps how many child processes exist at
once, so a burst of signed mail queues up instead of forking without limit.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def default_workers() -> int:
    """Return one worker per CPU, and at least two, because the calls mostly wait on a child process."""
    return max(2, os.cpu_count() or 1)


class CryptoPool:
    """A thread pool of at most ``max_workers`` threads for blocking crypto calls."""

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or default_workers()
        self._executor = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="crypto")

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``function(*args, **kwargs)`` in the pool and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, *args, **kwargs))

    def close(self) -> None:
        """Wait for running calls to finish and stop the threads."""
        self._executor.shutdown(wait=True)
