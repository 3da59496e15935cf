"""Independent pieces of CPU work at once, one thread each, in forked processes (``forked_map``).

A tiny model on a CPU spends a decode step of a small batch mostly in per-operation overhead, not in arithmetic,
so a second torch thread buys little, and two processes of one thread each do more. The evaluation runner
(``EvalConfig.workers``, ``onethinker eval --workers``) and the probe (``ProbeConfig.workers``) hand their
generation batches to ``windowed_map`` (``forked_map`` a window of batches at a time); the demo's evaluations and
probe use one worker per core. (The RL trainer's rollouts do not: a draw's batches of 16 and 8 prompts x 6
samples are large enough that two one-thread processes took as long as one two-thread process, docs/experiments.md
P8.)

Why fork, and why one thread: a forked child shares the parent's model copy-on-write (no weights to ship, the
current ones after every update), so a batch costs one ``fork`` rather than a model load; and torch's OpenMP
thread pool does not survive a fork (a child running more than one intra-op thread after the parent used
several hangs), so every process of a map, the parent's share included, runs one thread; the parent's count is
put back afterwards. The children's garbage collector ignores the objects they inherit (``gc.freeze``), which
may own threads that a child does not have.

The results are those of the same calls in one process: the pieces are independent (each generation batch has
its own seed), and the outputs do not depend on the thread count (tests/test_parallel.py checks both on the
tiny model). Where fork does not exist, or a CUDA device is in use (a CUDA context does not survive a fork
either), or there is one piece, the pieces run in this process one after another.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing as mp
import os
import pickle
import sys
import traceback
import warnings
from typing import Any, Callable, Iterable, Iterator, Sequence


class WorkerError(RuntimeError):
    """A forked worker failed: its exception could not come back as itself, or the process died."""


def fork_available() -> bool:
    """Whether ``forked_map`` can fork here (POSIX with the fork start method, no CUDA context in use)."""
    if "fork" not in mp.get_all_start_methods() or not hasattr(os, "fork"):
        return False
    try:
        import torch

        return not (torch.cuda.is_available() and torch.cuda.is_initialized())
    except ImportError:  # pragma: no cover - torch is a dependency
        return True


def _child(conn: Any, fn: Callable[[Any], Any], arg: Any) -> None:
    import torch

    torch.set_num_threads(1)
    try:
        payload = ("ok", fn(arg))
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
        payload = ("error", e, traceback.format_exc())
    try:
        conn.send(payload)
    except Exception as e:  # an unpicklable result or exception: its text goes back instead
        conn.send(("error", None, f"{type(e).__name__} sending the result back: {e}\n"
                                  + (payload[2] if payload[0] == "error" else "")))
    finally:
        conn.close()


def forked_map(fn: Callable[[Any], Any], args: Sequence[Any], *, parallel: bool = True) -> list[Any]:
    """``[fn(a) for a in args]``, computed at once: ``args[0]`` in this process, each other one in a forked child,
    every process with one torch thread. ``fn``'s exception in a child is raised here (the child's traceback in a
    note); a child that dies without a result raises :class:`WorkerError`. ``parallel=False``, one piece, or no
    fork here: one after another in this process, threads as they are."""
    args = list(args)
    if not parallel or len(args) < 2 or not fork_available():
        return [fn(a) for a in args]
    import torch

    ctx = mp.get_context("fork")
    for stream in (sys.stdout, sys.stderr):  # else a child flushes the parent's pending output a second time
        stream.flush()
    children = []
    try:
        # The children's garbage collector leaves alone what they inherit: an object that owns threads (a video
        # decoder's frame scaler, say) and is garbage by chance at the fork would otherwise be freed in a child,
        # where its threads do not exist, and hang it. Here it is collected as usual, after the fork.
        gc.freeze()
        try:
            for a in args[1:]:
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(send, fn, a), daemon=True)
                with warnings.catch_warnings():  # a multi-threaded parent (progress bars): the child only computes
                    warnings.simplefilter("ignore", DeprecationWarning)
                    proc.start()
                send.close()
                children.append((proc, recv))
        finally:
            gc.unfreeze()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            results = [fn(args[0])]
        finally:
            torch.set_num_threads(threads)
        for k, (proc, recv) in enumerate(children, start=1):
            try:
                payload = recv.recv()
            except (EOFError, pickle.UnpicklingError) as e:
                proc.join()
                raise WorkerError(f"worker {k} of {len(args)} (a forked process) ended without a result "
                                  f"(exit code {proc.exitcode}): {type(e).__name__}") from None
            if payload[0] == "error":
                _, exc, text = payload
                if isinstance(exc, BaseException):
                    exc.add_note(f"in forked worker {k} of {len(args)}:\n{text}")
                    raise exc
                raise WorkerError(f"worker {k} of {len(args)} failed:\n{text}")
            results.append(payload[1])
        return results
    finally:
        for proc, recv in children:
            recv.close()
            proc.join(timeout=60)
            if proc.is_alive():  # pragma: no cover - a child stuck after sending
                proc.kill()
                proc.join()


def windowed_map(fn: Callable[[Any], Any], pieces: Iterable[Any], workers: int) -> Iterator[tuple[Any, Any]]:
    """``(piece, fn(piece))`` in order, ``workers`` pieces at a time through :func:`forked_map` (``workers`` 1: one
    by one in this process). ``pieces`` is read a window at a time, so a lazy iterable builds each window's inputs
    only when it is due."""
    step = max(1, int(workers))
    pieces = iter(pieces)
    while window := list(itertools.islice(pieces, step)):
        yield from zip(window, forked_map(fn, window, parallel=step > 1))
