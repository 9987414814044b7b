"""The embedded relay: publish, subscribe (iterator and callback), status, stop, and message
exchange with a separate emsd over libp2p."""

import threading
import time

import pytest

import ems
from conftest import CHEAP, HASH, Emsd, mined, wait_for


def config(tmp_path, name="relay", **extra):
    c = {
        "data_dir": str(tmp_path / name),
        "network": "pytest",
        "listen": ["/ip4/127.0.0.1/tcp/0"],
        "policy": CHEAP,
        "tuning": {"discovery": False, "resync_ms": 1000, "redial_ms": 500},
        "threads": 2,
    }
    c.update(extra)
    return c


def test_publish_subscribe_get_status_and_stop(tmp_path, cheap_policy, chain):
    with ems.Relay(config(tmp_path), chain) as relay:
        assert relay.peer_id.startswith("12D3")
        sub = relay.subscribe([b"\x77" * 32])
        got = []
        done = threading.Event()
        relay.subscribe(callback=lambda f: (got.append(f), done.set()))
        assert sub.next(timeout=0.05) is None

        f = mined(cheap_policy, tag=0x77)
        digest, duplicate = relay.publish(f)
        assert digest == f.digest and not duplicate
        assert relay.publish(f.encode()) == (f.digest, True)
        assert sub.next(timeout=10) == f
        assert done.wait(10) and got[0] == f
        assert relay.get(f.digest) == f
        assert relay.get(b"\x00" * 32) is None

        status = relay.status()
        assert status["store"]["messages"] == 1
        assert status["chain"]["source"] == "test" and status["chain"]["height"] == 100
        assert "ems_messages_received_total" in relay.metrics()

        with pytest.raises(ems.MalformedError):
            relay.publish(b"\x00" * 10)
        with pytest.raises(ems.ExpiredError) as e:
            relay.publish(mined(cheap_policy, ttl_in=-600))
        assert e.value.code == "expired"
        with pytest.raises(ems.InvalidArgumentError):
            relay.get(b"short")
    with pytest.raises(ems.ShuttingDownError):
        relay.publish(f)
    with pytest.raises(ems.ShuttingDownError):
        sub.next(timeout=1)
    assert list(sub) == []
    relay.stop()  # again: nothing happens


def test_close_wakes_a_waiting_iterator(tmp_path, chain):
    with ems.Relay(config(tmp_path), chain) as relay:
        sub = relay.subscribe()
        out = []
        t = threading.Thread(target=lambda: out.extend(sub))
        t.start()
        time.sleep(0.2)
        sub.close()
        t.join(10)
        assert not t.is_alive() and out == []


def test_bad_configs_name_the_key(tmp_path, chain):
    with pytest.raises(ems.InvalidArgumentError, match="data_dir"):
        ems.Relay({}, chain)
    with pytest.raises(ems.InvalidArgumentError, match="listen"):
        ems.Relay(config(tmp_path, listen=["nonsense"]), chain)
    with pytest.raises(ems.InvalidArgumentError, match="block_depth"):
        ems.Relay(config(tmp_path, policy={"policy": {"block_depth": 0}}), chain)
    with pytest.raises(ems.InvalidArgumentError):
        ems.Relay(config(tmp_path), object())


def test_the_relay_keeps_its_store_across_restarts(tmp_path, cheap_policy, chain):
    f = mined(cheap_policy)
    with ems.Relay(config(tmp_path), chain) as relay:
        relay.publish(f)
    with ems.Relay(config(tmp_path), chain) as relay:
        assert relay.get(f.digest) == f


def test_a_relay_validating_through_a_host_object(tmp_path, cheap_policy):
    class Host:
        def head(self):
            return (100, HASH, int(time.time()) - 5)

        def find(self, prefix):
            return self.head() if prefix == HASH[:4] else None

    with ems.Relay(config(tmp_path), Host()) as relay:
        relay.publish(mined(cheap_policy))
        with pytest.raises(ems.StaleBlockhashError):
            relay.publish(mined(cheap_policy, blockhash=b"\x01\x02\x03\x04"))


def test_messages_cross_between_the_embedded_relay_and_a_separate_emsd(tmp_path, cheap_policy, chain):
    block = (100, HASH, chain.head()[2])
    early = mined(cheap_policy, tag=0x11, payload=b"stored before the peers met")
    with ems.Relay(config(tmp_path), chain) as relay:
        relay.publish(early)
        addr = relay.status()["listen_addrs"][0]
        emsd = Emsd(tmp_path, block, bootstrap=[addr])
        try:
            wait_for("the peers to connect", lambda: relay.status()["peers"] >= 1)
            # History: emsd fetched what the relay held before they met.
            wait_for("emsd to sync the early message",
                     lambda: emsd.http("GET", "/v1/messages/" + early.digest.hex())[0] == 200)
            # emsd → embedded relay, live.
            sub = relay.subscribe([b"\x22" * 32])
            to_relay = mined(cheap_policy, tag=0x22, payload=b"from emsd")
            status, body = emsd.http("POST", "/v1/messages", to_relay.encode())
            assert status == 202, body
            assert sub.next(timeout=60) == to_relay
            # Embedded relay → emsd, live.
            to_emsd = mined(cheap_policy, tag=0x33, payload=b"from the embedded relay")
            relay.publish(to_emsd)
            status, body = wait_for(
                "emsd to receive the relay's message",
                lambda: (lambda r: r if r[0] == 200 else None)(
                    emsd.http("GET", "/v1/messages/" + to_emsd.digest.hex())),
            )
            assert ems.Frame.decode(body) == to_emsd
        finally:
            emsd.stop()
