"""A process pool in which every item runs under a time limit.

``concurrent.futures`` cannot stop one task that hangs (sympy can spin for minutes on a crafted
LaTeX answer). Here each worker receives a chunk of items, scores them one by one, and sends the
chunk's results back in one message. Before each item it writes the item's index and start time to
a small shared-memory slot, so the parent always knows which item a worker is on and since when,
without a message per item. A worker past the limit is killed and replaced: its current item is
reported as timed out, and the rest of its chunk (finished or not: unsent results died with it)
goes back to the queue. A worker that dies (segfault, out of memory) is handled the same way.
"""

from __future__ import annotations

import atexit
import importlib
import multiprocessing as mp
import os
import signal
import time
import weakref
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Sequence

OK, TIMEOUT, ERROR = "ok", "timeout", "error"
START_TIMEOUT_S = 120.0
_POLL_S = 0.25  # how often the parent looks at the workers' progress slots while it waits


class PoolStartError(RuntimeError):
    """The worker processes could not be started (the message says why)."""


@dataclass(frozen=True)
class Outcome:
    status: str  # OK, TIMEOUT or ERROR
    value: Any = None  # the function's return value when OK, a message otherwise


def _resolve(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _worker_main(conn: Connection, progress: Any, func_path: str, init_path: str | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        func = _resolve(func_path)
        if init_path:
            _resolve(init_path)()
        conn.send(("ready", os.getpid()))
    except Exception as e:
        conn.send(("failed", f"{type(e).__name__}: {e}"))
        return
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            return
        if chunk is None:
            return
        results = []
        for idx, args in chunk:
            progress[1] = time.monotonic()
            progress[0] = idx
            try:
                out = (OK, func(*args))
            except Exception as e:  # the function should not raise; report it if it does
                out = (ERROR, f"{type(e).__name__}: {e}")
            results.append((idx, out))
        progress[0] = -1.0
        try:
            conn.send(results)
        except (BrokenPipeError, OSError):
            return


class _Worker:
    def __init__(self, ctx: Any, func_path: str, init_path: str | None) -> None:
        parent, child = ctx.Pipe(duplex=True)
        # progress[0]: index of the item being scored (-1 when idle); progress[1]: when it started
        self.progress = ctx.RawArray("d", [-1.0, 0.0])
        self.proc = ctx.Process(target=_worker_main, args=(child, self.progress, func_path, init_path), daemon=True)
        self.proc.start()
        child.close()
        self.conn: Connection = parent
        self.inflight: list[int] = []  # the chunk this worker holds

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        try:
            if not self.conn.poll(timeout_s):
                raise PoolStartError(f"worker process did not start within {timeout_s:g} s")
            status, info = self.conn.recv()
        except (EOFError, OSError):
            self.proc.join(timeout=5)
            raise PoolStartError(
                f"worker process exited during start-up (exit code {self.proc.exitcode}); "
                "if this program was read from standard input, run it from a file"
            ) from None
        if status != "ready":
            raise PoolStartError(f"worker process failed during start-up: {info}")

    def current(self) -> tuple[int, float] | None:
        """(item index, start time) of the item in progress, or None (idle, or caught mid-update)."""
        started = self.progress[1]
        idx = int(self.progress[0])
        if idx < 0 or self.progress[1] != started:
            return None
        return idx, started

    def kill(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(timeout=2)
        self.kill()


_LIVE_POOLS: "weakref.WeakSet[TimedPool]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for pool in list(_LIVE_POOLS):
        pool.close()


class TimedPool:
    """Run ``func_path`` ("package.module:function") over many argument tuples in worker processes.

    ``init_path`` (same form, no arguments) runs once in each worker before it reports ready, e.g. to
    pay one-off initialisation costs outside the timed items. Workers start on first use and stay up
    between calls. ``map`` returns one ``Outcome`` per input, in input order. Counters (``timeouts``,
    ``errors``, ``restarts``) accumulate over the pool's life.
    """

    def __init__(
        self,
        func_path: str,
        workers: int,
        item_timeout_s: float,
        start_method: str | None = None,
        preload: Sequence[str] = (),
        init_path: str | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if item_timeout_s <= 0:
            raise ValueError(f"item_timeout_s must be > 0, got {item_timeout_s}")
        self.func_path = func_path
        self.init_path = init_path
        self.n_workers = workers
        self.item_timeout_s = float(item_timeout_s)
        if start_method is None:
            start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        self._ctx = mp.get_context(start_method)
        if start_method == "forkserver" and preload:
            self._ctx.set_forkserver_preload(list(preload))
        self._workers: list[_Worker] = []
        self._pid = os.getpid()
        self.timeouts = 0
        self.errors = 0
        self.restarts = 0
        _LIVE_POOLS.add(self)

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> "TimedPool":
        """Start the missing workers and wait until each is ready; PoolStartError if one cannot start."""
        new = []
        while len(self._workers) + len(new) < self.n_workers:
            new.append(_Worker(self._ctx, self.func_path, self.init_path))
        try:
            for w in new:
                w.wait_ready()
        except PoolStartError:
            for w in new:
                w.kill()
            raise
        self._workers.extend(new)
        return self

    def close(self) -> None:
        if os.getpid() != self._pid:  # a forked child must not stop its parent's workers
            return
        for w in self._workers:
            w.stop()
        self._workers = []

    def __enter__(self) -> "TimedPool":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _replace(self, i: int) -> None:
        self._workers[i].kill()
        w = _Worker(self._ctx, self.func_path, self.init_path)
        w.wait_ready()
        self._workers[i] = w
        self.restarts += 1

    # -- work -------------------------------------------------------------------------------
    def map(self, args_list: Sequence[tuple], chunk_size: int | None = None) -> list[Outcome]:
        """One ``Outcome`` per argument tuple, in order. Items go out in chunks of ``chunk_size``
        consecutive items (default: about a quarter of a worker's share, at most 64)."""
        n = len(args_list)
        results: list[Outcome | None] = [None] * n
        if n == 0:
            return []
        self.start()
        pending: deque[int] = deque(range(n))
        chunk = chunk_size or max(1, min(64, n // (self.n_workers * 4)))

        def dispatch(w: _Worker) -> None:
            ids = [pending.popleft() for _ in range(min(chunk, len(pending)))]
            if ids:
                w.inflight = ids
                w.conn.send([(i, args_list[i]) for i in ids])

        def fail(i: int, culprit: int | None, status: str, message: str) -> None:
            """Worker i is being replaced: ``culprit`` gets ``status``; the rest of its chunk goes back."""
            w = self._workers[i]
            if culprit is None or culprit not in w.inflight:
                culprit = w.inflight[0]
            results[culprit] = Outcome(status, message)
            if status == TIMEOUT:
                self.timeouts += 1
            else:
                self.errors += 1
            pending.extendleft(reversed([j for j in w.inflight if j != culprit]))
            w.inflight = []
            self._replace(i)
            dispatch(self._workers[i])

        for w in self._workers:
            dispatch(w)
        while any(w.inflight for w in self._workers):
            busy = [w for w in self._workers if w.inflight]
            ready = set(wait([w.conn for w in busy], timeout=min(_POLL_S, self.item_timeout_s)))
            for i, w in enumerate(self._workers):
                if not w.inflight or w.conn not in ready:
                    continue
                try:
                    batch = w.conn.recv()
                except (EOFError, OSError):
                    cur = w.current()
                    w.proc.join(timeout=2)  # reap it, for the exit code
                    fail(i, cur[0] if cur else None, ERROR, f"worker process died (exit code {w.proc.exitcode})")
                    continue
                for idx, (status, value) in batch:
                    results[idx] = Outcome(status, value)
                    if status == ERROR:
                        self.errors += 1
                w.inflight = []
                dispatch(w)
            now = time.monotonic()
            for i, w in enumerate(self._workers):
                cur = w.current() if w.inflight else None
                if cur is not None and now - cur[1] > self.item_timeout_s:
                    fail(i, cur[0], TIMEOUT, f"no result within {self.item_timeout_s:g} s")
        return results  # type: ignore[return-value]
