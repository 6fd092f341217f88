"""The run's event loop: every account's calls, on one thread.

Accounts, their list pages and their sync calls are tasks on this loop, so
threads and memory do not grow with the number of accounts: a call waiting
for its turn in the budget, for a token or for its answer costs a task,
not a thread. Blocking work (a shared budget store's queries) runs on the
loop's executor, a few threads for every account (``STORE_THREADS``).

The SDK's side (the stream's ``get_records``, the message writer, state)
stays on the tap's main thread and takes what the loop produces (see
:mod:`tap_mixoads.engine.fanin`); nothing on the loop calls the stream.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Coroutine

_T = t.TypeVar("_T")

#: Threads for blocking work on the loop's behalf (a shared store's queries,
#: name resolution).
STORE_THREADS = 8
#: Longest wait for the loop to finish its clean-up when the run ends.
CLOSE_TIMEOUT_S = 10.0


class EngineLoop:
    """An asyncio loop on its own daemon thread, started on first use."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop (started now if it is not yet)."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                loop.set_default_executor(
                    concurrent.futures.ThreadPoolExecutor(
                        STORE_THREADS, thread_name_prefix="mixoads-store"
                    )
                )
                self._thread = threading.Thread(
                    target=loop.run_forever, name="mixoads-engine", daemon=True
                )
                self._thread.start()
                self._loop = loop
            return self._loop

    def submit(
        self, coro: Coroutine[t.Any, t.Any, _T]
    ) -> concurrent.futures.Future[_T]:
        """Run ``coro`` on the loop; its future, for a thread to wait on."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[t.Any, t.Any, _T]) -> _T:
        """Run ``coro`` on the loop and wait for its result on this thread."""
        future = self.submit(coro)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def call(self, callback: t.Callable[[], object]) -> None:
        """Run ``callback`` on the loop soon (from any thread)."""
        self.loop.call_soon_threadsafe(callback)

    def close(self, cleanup: Coroutine[t.Any, t.Any, object] | None = None) -> None:
        """Run ``cleanup`` (if any), cancel what is left, stop the loop."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            if cleanup is not None:
                cleanup.close()
            return

        async def finish() -> None:
            if cleanup is not None:
                await cleanup
            current = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await loop.shutdown_asyncgens()

        try:
            asyncio.run_coroutine_threadsafe(finish(), loop).result(CLOSE_TIMEOUT_S)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(CLOSE_TIMEOUT_S)
            if not thread.is_alive():
                loop.close()
