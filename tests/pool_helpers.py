"""Functions the pool tests run in worker processes (importable by name from tests/)."""

import os
import time


def echo(x, delay=0.0):
    if delay:
        time.sleep(delay)
    return x


def die(code):
    os._exit(code)


def boom(x):
    raise ValueError(f"bad {x}")


def warm():
    global WARMED
    WARMED = True


def was_warmed(_):
    return globals().get("WARMED", False)
