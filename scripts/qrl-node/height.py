"""Prints a QRL node's chain height (PublicAPI.GetHeight); exits 1 until it has mined a block.

usage: height.py HOST:PORT
"""
import sys

import grpc
from qrl.generated import qrl_pb2, qrl_pb2_grpc

if len(sys.argv) != 2:
    sys.exit("usage: height.py HOST:PORT")
with grpc.insecure_channel(sys.argv[1]) as channel:
    api = qrl_pb2_grpc.PublicAPIStub(channel)
    height = api.GetHeight(qrl_pb2.GetHeightReq(), timeout=5).height
print(height)
sys.exit(0 if height >= 1 else 1)
