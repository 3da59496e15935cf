"""TimedPool: results in order, per-item time limits, dead workers, errors."""

import time

import pytest

from onethinker.reward.pool import ERROR, OK, TIMEOUT, PoolStartError, TimedPool


@pytest.fixture
def pool():
    p = TimedPool("pool_helpers:echo", workers=2, item_timeout_s=1.0)
    yield p
    p.close()


def test_results_in_input_order(pool):
    out = pool.map([(i, 0.001 * (i % 3)) for i in range(200)], chunk_size=7)
    assert [o.status for o in out] == [OK] * 200
    assert [o.value for o in out] == list(range(200))
    assert pool.map([]) == []


def test_a_hanging_item_times_out_and_the_rest_finish(pool):
    args = [(i, 0.0) for i in range(40)]
    args[13] = (13, 30.0)  # hangs far past the 1 s limit
    t0 = time.monotonic()
    out = pool.map(args, chunk_size=8)
    assert time.monotonic() - t0 < 15
    assert out[13].status == TIMEOUT
    assert [o.value for i, o in enumerate(out) if i != 13] == [i for i in range(40) if i != 13]
    assert pool.timeouts == 1 and pool.restarts == 1
    # the pool keeps working after the restart
    assert [o.value for o in pool.map([(1,), (2,)])] == [1, 2]


def test_a_dying_worker_costs_one_item():
    with TimedPool("pool_helpers:die", workers=1, item_timeout_s=5.0) as p:
        out = p.map([(3,)])
    assert out[0].status == ERROR and "exit code 3" in out[0].value


def test_exceptions_are_reported_not_raised():
    with TimedPool("pool_helpers:boom", workers=1, item_timeout_s=5.0) as p:
        out = p.map([(1,), (2,)])
    assert [o.status for o in out] == [ERROR, ERROR]
    assert "ValueError: bad 2" in out[1].value


def test_init_runs_in_each_worker():
    with TimedPool("pool_helpers:was_warmed", workers=2, item_timeout_s=5.0, init_path="pool_helpers:warm") as p:
        assert all(o.value is True for o in p.map([(i,) for i in range(8)], chunk_size=1))


def test_a_worker_that_cannot_start_is_a_clear_error():
    with pytest.raises(PoolStartError, match="no_such_module"):
        TimedPool("no_such_module:f", workers=1, item_timeout_s=1.0).start()


def test_bad_arguments():
    with pytest.raises(ValueError):
        TimedPool("pool_helpers:echo", workers=0, item_timeout_s=1.0)
    with pytest.raises(ValueError):
        TimedPool("pool_helpers:echo", workers=1, item_timeout_s=0)
