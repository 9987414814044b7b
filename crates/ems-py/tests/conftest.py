"""Shared fixtures: a cheap policy (mining in milliseconds), a chain with a fresh block, the
vectors file, and free loopback ports."""

import json
import os
import pathlib
import socket
import time

import pytest

import ems

ROOT = pathlib.Path(__file__).resolve().parents[3]
HASH = bytes([0xAA, 0xBB, 0xCC, 0xDD]) + bytes(28)

CHEAP = {"pow": {"sha256": {"min_work": 2000, "size_factor": 0, "ttl_factor": 0}}}


@pytest.fixture
def cheap_policy():
    return ems.Policy(CHEAP)


@pytest.fixture
def chain():
    c = ems.PushedChain(source="test")
    c.push(100, HASH, int(time.time()) - 5)
    return c


@pytest.fixture(scope="session")
def vectors():
    return json.loads((ROOT / "tests/vectors/wire-v1.json").read_text())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mined(policy, tag=0xAB, payload=b"hello", ttl_in=600, blockhash=HASH[:4]):
    f = ems.Frame(bytes([tag]) * 32 + os.urandom(32), payload, int(time.time()) + ttl_in, blockhash)
    f.mine(policy, threads=2)
    return f


def emsd_binary():
    """The emsd binary the Rust build produced (EMS_EMSD overrides)."""
    path = pathlib.Path(os.environ.get("EMS_EMSD", ROOT / "target/debug/emsd"))
    if not path.exists():
        pytest.fail(f"emsd not built at {path} (cargo build -p emsd, or set EMS_EMSD)")
    return path


def wait_for(what, check, timeout=60.0, every=0.1):
    """Polls check() until it returns something truthy; fails naming what after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


class Emsd:
    """A separate `emsd run` process on loopback with a static chain of one block."""

    def __init__(self, tmp, block, bootstrap=(), network="pytest", chain=None):
        import subprocess

        self.dir = pathlib.Path(tmp) / "emsd"
        self.dir.mkdir(parents=True, exist_ok=True)
        if chain is None:
            height, hash_, t = block
            chain = (
                'source = "static"\n'
                f'static = {{ blocks = [{{ height = {height}, prefix = "{hash_[:4].hex()}", time = {t} }}] }}\n'
            )
        (self.dir / "emsd.toml").write_text(
            f'network = "{network}"\n'
            "[chain]\n" + chain +
            "[pow.sha256]\nmin_work = 2000\nsize_factor = 0\nttl_factor = 0\n"
        )
        args = [
            str(emsd_binary()), "run", "--config", str(self.dir / "emsd.toml"),
            "--data-dir", str(self.dir / "data"),
            "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0",
        ]
        for b in bootstrap:
            args += ["--bootstrap", b]
        self.log = open(self.dir / "emsd.log", "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        info_path = self.dir / "data" / "node.json"

        def info():
            if self.proc.poll() is not None:
                pytest.fail(f"emsd exited: {self.log_text()}")
            try:
                i = json.loads(info_path.read_text())
            except (OSError, ValueError):
                return None
            return i if i.get("pid") == self.proc.pid else None

        self.info = wait_for("emsd's node.json", info)

    def log_text(self):
        return (self.dir / "emsd.log").read_text(errors="replace")

    def addr(self):
        return self.info["listen_addrs"][0]

    def http(self, method, path, body=None):
        import urllib.error
        import urllib.request

        req = urllib.request.Request(self.info["api"] + path, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/octet-stream")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
