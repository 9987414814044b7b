"""Publishes a lattice transaction on a test node and waits until it is mined.

Signs with the public XMSS test key the node mines with in --mocknet mode (each call takes the
next unused one-time key), pushes it, polls until a block holds it and prints
{"address": "Q…", "tx_hash": hex, "block": n} as one JSON line.
The node limits pk1 to 1088 bytes, pk2 to 1472, pk3 to 65.

usage: publish_lattice.py HOST:PORT [--pk1 HEX] [--pk2 HEX] [--pk3 HEX]
"""
import argparse
import json
import sys
import time

import grpc
from pyqrllib.pyqrllib import hstr2bin
from qrl.core.txs.LatticeTransaction import LatticeTransaction
from qrl.crypto.xmss import XMSS
from qrl.generated import qrl_pb2, qrl_pb2_grpc

# qrl/main.py's --mocknet mining key: published in the node's source, worthless outside a test.
MOCKNET_SEED = (
    "010500dd70f898c2cb4c11ce7fd85aa04554e41dcc46569871d189a3f48d84e2fbedbe176695e291e9b81e619b3625c624cde6"
)
MINED_WITHIN_SECS = 120


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("api", metavar="HOST:PORT")
    for field in ("pk1", "pk2", "pk3"):
        parser.add_argument(f"--{field}", type=bytes.fromhex, default=b"", metavar="HEX")
    args = parser.parse_args()

    with grpc.insecure_channel(args.api) as channel:
        api = qrl_pb2_grpc.PublicAPIStub(channel)
        key = XMSS.from_extended_seed(bytes(hstr2bin(MOCKNET_SEED)))
        ots = api.GetOTS(qrl_pb2.GetOTSReq(address=key.address, unused_ots_index_from=0), timeout=10)
        key.set_ots_index(ots.next_unused_ots_index)
        tx = LatticeTransaction.create(pk1=args.pk1, pk2=args.pk2, pk3=args.pk3, fee=0, xmss_pk=key.pk)
        tx.sign(key)
        pushed = api.PushTransaction(qrl_pb2.PushTransactionReq(transaction_signed=tx.pbdata), timeout=10)
        if pushed.error_code != qrl_pb2.PushTransactionResp.SUBMITTED:
            code = qrl_pb2.PushTransactionResp.ResponseCode.Name(pushed.error_code)
            sys.exit(f"the node refused the transaction: {code} {pushed.error_description}")
        deadline = time.monotonic() + MINED_WITHIN_SECS
        while time.monotonic() < deadline:
            found = api.GetTransaction(qrl_pb2.GetTransactionReq(tx_hash=tx.txhash), timeout=10)
            if found.block_number:
                print(json.dumps({
                    "address": "Q" + bytes(key.address).hex(),
                    "tx_hash": bytes(tx.txhash).hex(),
                    "block": found.block_number,
                }))
                return
            time.sleep(0.5)
    sys.exit(f"the transaction was not mined within {MINED_WITHIN_SECS} s")


if __name__ == "__main__":
    main()
