"""Password hashing with argon2id, in a pool of processes beside the event loop.

argon2 is memory-hard CPU work: tens to hundreds of milliseconds a hash. In a thread
it competes with the event loop for the interpreter and the cores; in worker
processes at a lower scheduling priority it takes only the CPU the chats leave.
``run_in_pool`` offers the same pool to the other CPU-heavy password work (zxcvbn).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, TypeVar

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import Type

from core.settings import Settings

if TYPE_CHECKING:
    from core.password_policy import PasswordPolicy, Requirement

T = TypeVar("T")
# How much lower than the chats the hashing processes run (nice(2)): under contention
# the scheduler gives them about a tenth of a core's time against a process at 0.
POOL_NICENESS = 10

# How often a worker checks that the process it serves is still there.
OWNER_CHECK_SECONDS = 0.5

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def pool_size() -> int:
    """One worker process per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _start_worker(owner: int) -> None:
    """In each worker: run below the chats, and exit when the process it serves is gone.

    A worker's parent is the forkserver, not the process that uses the pool, and the
    workers and the forkserver hold each other's pipes open; if that process dies
    without shutting the pool down (SIGKILL), nothing would ever end them, and they
    would keep its stdout and stderr open (a supervisor or a shell pipeline waiting for
    them would wait forever). So each worker watches its owner and leaves with it.
    """
    with contextlib.suppress(OSError):  # not permitted: run at normal priority
        os.nice(POOL_NICENESS)
    threading.Thread(target=_exit_with, args=(owner,), name="owner-watch", daemon=True).start()


def _exit_with(owner: int) -> None:
    while True:
        time.sleep(OWNER_CHECK_SECONDS)
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # alive, under another user (pid reused): keep going
            continue


def _get_pool() -> ProcessPoolExecutor:
    """The process's pool, started on first use.

    ``forkserver``, not ``fork``: the workers are forked from a small server process
    that preloaded only this module, so they inherit no event loop, database
    connection, lock or thread of the process using them. As with ``spawn``, each
    worker imports a main script once (a ``python -m`` module is skipped), so a script
    that hashes needs multiprocessing's ``if __name__ == "__main__"`` guard (the
    ``helpdesk`` entry point has it). Workers start as work arrives.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
            _pool = ProcessPoolExecutor(
                max_workers=pool_size(),
                mp_context=context,
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
        return _pool


def shutdown_pool() -> None:
    """Stop the worker processes (a later call to the pool starts new ones)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


async def run_in_pool(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``function`` (a module-level, picklable one) in a worker process.

    A pool whose worker died (killed, out of memory) is replaced and the call made once
    more; the work is a pure function of its arguments, so that is safe.
    """
    call = functools.partial(function, *args, **kwargs)
    loop = asyncio.get_running_loop()
    pool = _get_pool()
    try:
        return await loop.run_in_executor(pool, call)
    except BrokenProcessPool:
        global _pool
        with _pool_lock:
            if _pool is pool:
                _pool = None
        pool.shutdown(wait=False, cancel_futures=True)
        return await loop.run_in_executor(_get_pool(), call)


def _check_policy(
    policy: PasswordPolicy, password: str, personal: Sequence[str]
) -> list[Requirement]:
    from core.password_policy import check  # in the worker: zxcvbn's lists load there

    return check(policy, password, personal=personal)


def _strength(password: str, personal: Sequence[str]) -> int:
    from core.password_words import strength

    return strength(password, personal)


async def check_policy(
    policy: PasswordPolicy, password: str, *, personal: Sequence[str] = ()
) -> list[Requirement]:
    """``core.password_policy.check`` (zxcvbn included) in the pool."""
    return await run_in_pool(_check_policy, policy, password, list(personal))


async def rate(password: str, personal: Sequence[str] = ()) -> int:
    """zxcvbn's score (``core.password_words.strength``) in the pool."""
    return await run_in_pool(_strength, password, list(personal))


@functools.lru_cache(maxsize=8)
def _argon2(time_cost: int, memory_kib: int, parallelism: int) -> _Argon2:
    return _Argon2(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
    )


def _hash(parameters: tuple[int, int, int], password: str) -> str:
    return _argon2(*parameters).hash(password)


def _verify(parameters: tuple[int, int, int], stored: str, password: str) -> bool:
    try:
        return _argon2(*parameters).verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class PasswordHasher:
    """argon2id at the configured parameters (never below OWASP's minimum).

    The ``*_sync`` methods hash in the calling thread (the CLI's one-off uses); the
    async ones in the process pool, so no chat waits for a hash.
    """

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._parameters = (time_cost, memory_kib, parallelism)
        self._argon2 = _argon2(*self._parameters)

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordHasher:
        return cls(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        )

    def hash_sync(self, password: str) -> str:
        return _hash(self._parameters, password)

    def verify_sync(self, stored: str, password: str) -> bool:
        return _verify(self._parameters, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        return self._argon2.check_needs_rehash(stored)

    async def hash(self, password: str) -> str:
        return await run_in_pool(_hash, self._parameters, password)

    async def verify(self, stored: str, password: str) -> bool:
        return await run_in_pool(_verify, self._parameters, stored, password)

    async def matches_any(self, hashes: Sequence[str], password: str) -> bool:
        """Whether ``password`` is any of ``hashes`` (password history), verified in parallel."""
        found = await asyncio.gather(*(self.verify(stored, password) for stored in hashes))
        return any(found)

    async def verify_and_update(self, stored: str, password: str) -> tuple[bool, str | None]:
        """Verify; when it matches and the parameters have changed, also return a new hash.

        The only moment the clear password is at hand is a successful verify, so that is
        when a hash made with older (weaker) parameters is replaced.
        """
        if not await self.verify(stored, password):
            return False, None
        if self.needs_rehash(stored):
            return True, await self.hash(password)
        return True, None
