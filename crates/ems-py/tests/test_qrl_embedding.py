"""The real embedding: one process runs the real QRL node (qrl 4.0.12, its own Python 3.10
virtualenv) and an EMS relay through these bindings, the relay's chain view fed in-process from
the node's ChainManager; that relay exchanges a message each way with a separate emsd, which
reads the same node over gRPC."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import ROOT, Emsd, free_port

VENV = pathlib.Path(os.environ.get("EMS_QRL_NODE_VENV", pathlib.Path.home() / ".cache/ems/qrl-node-venv"))
EXAMPLE = ROOT / "crates/ems-py/examples/qrl_embedded.py"


def test_qrl_node_and_embedded_relay_in_one_process_exchange_messages_with_emsd(tmp_path):
    python = VENV / "bin/python"
    if not python.exists():
        if os.environ.get("EMS_REQUIRE_QRL"):
            pytest.fail(f"the QRL node virtualenv is missing at {VENV}")
        pytest.skip(f"the QRL node virtualenv is not installed at {VENV}")
    api, p2p = free_port(), free_port()
    emsd = Emsd(tmp_path, None, network="qrl-embedded", chain=f'source = "qrl://127.0.0.1:{api}"\n')
    site = os.environ.get("EMS_PY_SITE", str(ROOT / "target/ems-py/site"))
    env = dict(os.environ, PYTHONPATH=site)
    proc = subprocess.Popen(
        [str(python), str(EXAMPLE), "--qrldir", str(tmp_path / "qrl"), "--api-port", str(api),
         "--p2p-port", str(p2p), "--ems-dir", str(tmp_path / "ems"),
         "--bootstrap", emsd.addr(), "--emsd-api", emsd.info["api"]],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
    )
    try:
        out, _ = proc.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"the embedded node did not finish:\n{out[-4000:]}\nemsd:\n{emsd.log_text()[-4000:]}")
    finally:
        emsd.stop()
    results = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    ok = [r["ok"] for r in results if "ok" in r]
    assert proc.returncode == 0 and ok, f"exit {proc.returncode}:\n{out[-4000:]}\nemsd:\n{emsd.log_text()[-4000:]}"
    report = ok[0]
    assert report["emsd_to_relay"]["qrl_height"] >= 1
    assert report["relay_to_emsd"]["qrl_height"] >= 1
    assert report["unknown_block"] == "stale_blockhash"
    assert report["chain"]["source"] == "qrl-node (in-process)" and report["chain"]["healthy"]
