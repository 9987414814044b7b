"""The real QRL node and an EMS relay in one Python process.

The stock QRL node (PyPI ``qrl`` 4.0.12) runs as usual on its Twisted reactor; an ``ems.Relay``
runs beside it on threads of its own. The relay's chain view is fed in-process from the node's
own ``ChainManager`` (no gRPC): a reactor LoopingCall pushes every new block (height, header
hash, timestamp) into an ``ems.PushedChain``, and a reorg is pushed as the replacement blocks.

Run with the QRL node's Python 3.10 (``~/.cache/ems/qrl-node-venv/bin/python``) and the ``ems``
wheel on its path. As a test driver (``--emsd-api``), it then exchanges a message each way with a
separate ``emsd`` over libp2p and exits 0; without it, it just relays until interrupted.

    python qrl_embedded.py --qrldir DIR --api-port 29009 --p2p-port 29000 --ems-dir DIR \\
        [--ems-listen /ip4/127.0.0.1/tcp/0] [--bootstrap MULTIADDR] [--emsd-api URL]
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

import ems

# Cheap proof of work for the test network (the same numbers emsd is given).
CHEAP = {"pow": {"sha256": {"min_work": 2000, "size_factor": 0, "ttl_factor": 0}}}


def args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--qrldir", required=True)
    p.add_argument("--api-port", type=int, required=True)
    p.add_argument("--p2p-port", type=int, required=True)
    p.add_argument("--ems-dir", required=True)
    p.add_argument("--ems-listen", default="/ip4/127.0.0.1/tcp/0")
    p.add_argument("--network", default="qrl-embedded")
    p.add_argument("--bootstrap", action="append", default=[])
    p.add_argument("--emsd-api", help="run the exchange with this emsd, then exit")
    return p.parse_args()


def qrl_testnet_config(qrldir, api_port, p2p_port):
    """An isolated single-node testnet (all hard forks from block 0), as the node reads it."""
    import qrl

    node_dir = qrldir + "-testnet"  # --network-type testnet appends -testnet
    os.makedirs(node_dir, exist_ok=True)
    pkg = os.path.dirname(qrl.__file__)
    with open(os.path.join(pkg, "network/testnet/genesis.yml")) as src:
        genesis = src.read()
    with open(os.path.join(node_dir, "genesis.yml"), "w") as dst:
        dst.write(genesis)
    with open(os.path.join(node_dir, "config.yml"), "w") as f:
        f.write(
            "genesis_prev_headerhash: 'Final Testnet'\ngenesis_timestamp: 1668696491\n"
            "genesis_difficulty: 5000\npeer_list: []\nenable_peer_discovery: false\n"
            "max_peers_limit: 0\nntp_servers: ['127.0.0.1']\npublic_api_host: 127.0.0.1\n"
            f"public_api_port: {api_port}\np2p_local_port: {p2p_port}\n"
            f"p2p_public_port: {p2p_port}\nadmin_api_enabled: false\n"
            "mining_api_enabled: false\ndebug_api_enabled: false\n"
        )


class ChainFeed:
    """Pushes the QRL node's blocks into an ems.PushedChain, from the reactor thread."""

    def __init__(self, chain_manager, pushed, backfill=300):
        self.cm = chain_manager
        self.pushed = pushed
        self.backfill = backfill
        self.pushed_hashes = {}  # height -> header hash already pushed

    def tick(self):
        last = self.cm.last_block
        if last is None:
            return
        top = last.block_number
        # Walk down from the tip until a block we already pushed (a reorg replaces blocks
        # from the fork point up), then push upwards.
        new = []
        h = top
        while h >= max(0, top - self.backfill):
            block = last if h == top else self.cm.get_block_by_number(h)
            if block is None:
                break
            if self.pushed_hashes.get(h) == block.headerhash:
                break
            new.append(block)
            h -= 1
        for block in reversed(new):
            self.pushed.push(block.block_number, block.headerhash, block.timestamp)
            self.pushed_hashes[block.block_number] = block.headerhash
        for old in [k for k in self.pushed_hashes if k < top - self.backfill]:
            del self.pushed_hashes[old]


def http(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/octet-stream")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return 0, str(e).encode()


def wait_for(what, check, timeout=90.0):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def mined(policy, tag, payload, chain):
    height, prefix, _ = chain.head()
    f = ems.Frame(bytes([tag]) * 32 + os.urandom(32), payload, int(time.time()) + 600, prefix)
    f.mine(policy)
    return f, height


def exchange(relay, chain, emsd_api, report):
    """One message each way between the embedded relay and emsd, both bound to QRL blocks."""
    policy = ems.Policy(CHEAP)
    wait_for("the relay to connect to emsd", lambda: relay.status()["peers"] >= 1)

    # emsd -> embedded relay. emsd answers 503 until its own gRPC view of the node is ready.
    sub = relay.subscribe([b"\x22" * 32])
    to_relay, height = mined(policy, 0x22, b"from emsd, bound to a QRL block", chain)
    status, body = wait_for(
        "emsd to accept a frame",
        lambda: (lambda r: r if r[0] != 503 and r[0] != 0 else None)(
            http("POST", emsd_api + "/v1/messages", to_relay.encode())),
    )
    if status != 202:
        raise AssertionError(f"emsd refused the frame: {status} {body!r}")
    got = sub.next(timeout=90)
    if got != to_relay:
        raise AssertionError(
            f"the subscription delivered {got!r}; stored: {relay.get(to_relay.digest)!r}; "
            f"relay status {relay.status()}; frame blockhash {to_relay.blockhash.hex()} "
            f"(height {height}); emsd: {http('GET', emsd_api + '/v1/status')[1][:600]!r}")
    report["emsd_to_relay"] = {"digest": got.digest.hex(), "qrl_height": height}

    # embedded relay -> emsd.
    to_emsd, height = mined(policy, 0x33, b"from the QRL node's own relay", chain)
    relay.publish(to_emsd)
    url = emsd_api + "/v1/messages/" + to_emsd.digest.hex()
    wait_for("emsd to receive the relay's message", lambda: http("GET", url)[0] == 200)
    report["relay_to_emsd"] = {"digest": to_emsd.digest.hex(), "qrl_height": height}

    # A frame bound to a block the QRL node never made is refused in-process.
    bogus = ems.Frame(b"\x44" * 64, b"x", int(time.time()) + 600, b"\x00\x00\x00\x00")
    bogus.mine(policy)
    try:
        relay.publish(bogus)
        raise AssertionError("a frame bound to an unknown block was accepted")
    except ems.StaleBlockhashError as e:
        report["unknown_block"] = e.code


def main():
    a = args()
    qrl_testnet_config(a.qrldir, a.api_port, a.p2p_port)

    # The node asks NTP servers for the time; this machine has none: use the local clock.
    from qrl.core.misc import ntp

    class LocalClock:
        offset = 0.0

        @property
        def tx_time(self):
            return time.time()

    ntp.get_ntp_response = lambda: LocalClock()

    # Capture the node's ChainManager as main() hands it to the node.
    from qrl.core.qrlnode import QRLNode

    captured = {}
    original = QRLNode.set_chain_manager

    def set_chain_manager(node, chain_manager):
        captured["cm"] = chain_manager
        return original(node, chain_manager)

    QRLNode.set_chain_manager = set_chain_manager

    from twisted.internet import reactor, task

    state = {"exit": 0, "report": {}}
    pushed = ems.PushedChain(source="qrl-node (in-process)", stale_after=120)

    def start_ems():
        feed = ChainFeed(captured["cm"], pushed)
        feed.tick()
        task.LoopingCall(feed.tick).start(0.5, now=False)
        config = {
            "data_dir": a.ems_dir,
            "network": a.network,
            "listen": [a.ems_listen],
            "bootstrap": a.bootstrap,
            "policy": CHEAP,
            "tuning": {"discovery": False, "redial_ms": 500, "resync_ms": 2000},
            "threads": 2,
        }
        relay = ems.Relay(config, pushed)
        state["relay"] = relay
        print(json.dumps({"relay": relay.status()["listen_addrs"], "peer_id": relay.peer_id}), flush=True)
        if a.emsd_api:
            threading.Thread(target=drive, args=(relay,), daemon=True).start()

    def drive(relay):
        try:
            # Genesis carries the testnet's 2022 timestamp: wait for a block mined now, which
            # both the live and the history rules accept.
            wait_for("a freshly mined QRL block in the EMS chain view",
                     lambda: len(pushed) > 0 and time.time() - pushed.head()[2] < 120)
            exchange(relay, pushed, a.emsd_api.rstrip("/"), state["report"])
            state["report"]["chain"] = relay.status()["chain"]
            print(json.dumps({"ok": state["report"]}), flush=True)
        except Exception as e:  # reported, then the process exits non-zero
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
            state["exit"] = 1
        finally:
            relay.stop()
            reactor.callFromThread(reactor.stop)

    reactor.callWhenRunning(start_ems)
    sys.argv = [sys.argv[0], "--qrldir", a.qrldir, "--network-type", "testnet", "--mocknet",
                "--no-colors", "-l", "WARNING"]
    from qrl.main import main as qrl_main

    qrl_main()
    relay = state.get("relay")
    if relay is not None:
        relay.stop()
    sys.exit(state["exit"])


if __name__ == "__main__":
    main()
