"""Password hashing with argon2id, off the event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import Type

from core.settings import Settings


class PasswordHasher:
    """argon2id at the configured parameters (never below OWASP's minimum).

    Hashing takes tens to hundreds of milliseconds of CPU, so the async methods run
    it in a worker thread: other chats keep being answered meanwhile.
    """

    # One hash at a time per process: argon2 already runs ``parallelism`` lanes, and a
    # queue of hashes must not take every core from the chats (bench/README.md, hashing).
    _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._argon2 = _Argon2(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordHasher:
        return cls(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        )

    def hash_sync(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify_sync(self, stored: str, password: str) -> bool:
        try:
            return self._argon2.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._argon2.check_needs_rehash(stored)

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self.hash_sync, password
        )

    async def verify(self, stored: str, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self.verify_sync, stored, password
        )

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
