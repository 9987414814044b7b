"""Mining: the GIL is released, progress is reported, cancellation stops it."""

import threading
import time

import pytest

import ems
from conftest import HASH

HARD = ems.Policy({"pow": {"sha256": {"min_work": 10**15, "size_factor": 0, "ttl_factor": 0}}})


def frame():
    return ems.Frame(b"\x07" * 64, b"x", int(time.time()) + 600, HASH[:4])


def test_mining_finds_a_proof_the_validator_accepts(cheap_policy, chain):
    f = frame()
    calls = []
    f.mine(cheap_policy, progress=lambda t, e, s: calls.append((t, e, s)))
    assert f.pow_algorithm == 1
    ems.Validator(cheap_policy, chain).validate(f.encode())
    assert calls and calls[-1][1] == 2000


def test_mining_is_deterministic_whatever_the_thread_count(cheap_policy):
    a, b = frame(), frame()
    a.mine(cheap_policy, threads=1)
    b.mine(cheap_policy, threads=2)
    assert a.pow_nonce == b.pow_nonce and a.pow_hash == b.pow_hash


def test_other_python_threads_run_while_mining():
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.005)

    t = threading.Thread(target=ticker)
    t.start()
    token = ems.CancelToken()
    threading.Timer(0.5, token.cancel).start()
    with pytest.raises(ems.CancelledError) as e:
        frame().mine(HARD, threads=1, cancel=token)
    stop.set()
    t.join()
    assert e.value.code == "cancelled"
    # The ticker ran during the half second of mining: the GIL was released.
    assert len(ticks) >= 20


def test_an_exception_in_the_progress_callback_stops_mining_and_propagates():
    f = frame()

    def progress(tries, expected, elapsed):
        raise KeyError("stop here")

    with pytest.raises(KeyError, match="stop here"):
        f.mine(HARD, threads=1, progress=progress, progress_interval=0.01)
    assert f.pow_algorithm == 0


def test_bad_mining_options_are_refused(cheap_policy):
    with pytest.raises(ems.InvalidArgumentError, match="md5"):
        frame().mine(cheap_policy, algorithm="md5")
    with pytest.raises(ems.InvalidArgumentError):
        frame().mine(cheap_policy, progress_interval=0)
