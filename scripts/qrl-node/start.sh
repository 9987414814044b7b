#!/usr/bin/env bash
# Starts an isolated single-node QRL testnet in DIR (created; reused with its chain on restart)
# that mines a block about every second and serves the public gRPC API on 127.0.0.1:API_PORT.
# Waits until the API answers with a height >= 1, writes DIR/node.pid and prints the PID.
# The node log is DIR/node.log. Stop it with stop.sh DIR.
# usage: start.sh DIR API_PORT P2P_PORT
#
# The node has no peers, discovers none and dials out to nobody; its P2P port listens on all
# interfaces (qrl 4.0.12 has no setting for that). All hard forks are active from block 0
# (testnet genesis), so lattice transactions are accepted.
set -euo pipefail
. "$(dirname "$0")/common.sh"
[ $# -eq 3 ] || { echo "usage: $0 DIR API_PORT P2P_PORT" >&2; exit 2; }
dir=$1 api=$2 p2p=$3
qrl_node_installed || { echo "error: no QRL node in $QRL_NODE_VENV; run $QRL_NODE_HARNESS/install.sh" >&2; exit 1; }
py=$QRL_NODE_VENV/bin/python

# --network-type testnet makes the node use QRLDIR-testnet as its data directory.
mkdir -p "$dir/node-testnet"
data=$(cd "$dir" && pwd)/node-testnet
package=$("$py" -c 'import os, qrl; print(os.path.dirname(qrl.__file__))')
cp "$package/network/testnet/genesis.yml" "$data/genesis.yml"
cat >"$data/config.yml" <<CONFIG
genesis_prev_headerhash: 'Final Testnet'
genesis_timestamp: 1668696491
genesis_difficulty: 5000
peer_list: []
enable_peer_discovery: false
max_peers_limit: 0
ntp_servers: ['127.0.0.1']
public_api_host: 127.0.0.1
public_api_port: $api
p2p_local_port: $p2p
p2p_public_port: $p2p
admin_api_enabled: false
mining_api_enabled: false
debug_api_enabled: false
CONFIG

# --mocknet mines with a built-in test key; launcher.py replaces the node's NTP lookup.
"$py" "$QRL_NODE_HARNESS/launcher.py" --qrldir "${data%-testnet}" --network-type testnet \
  --mocknet --no-colors -l INFO >>"$dir/node.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/node.pid"

deadline=$((SECONDS + 120))
while [ $SECONDS -lt $deadline ]; do
  if "$py" "$QRL_NODE_HARNESS/height.py" "127.0.0.1:$api" >/dev/null 2>&1; then
    echo "$pid"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "error: the QRL node exited; last lines of $dir/node.log:" >&2
    tail -20 "$dir/node.log" >&2
    exit 1
  fi
  sleep 0.5
done
echo "error: the QRL node did not answer on 127.0.0.1:$api within 120 s; see $dir/node.log" >&2
"$QRL_NODE_HARNESS/stop.sh" "$dir" >/dev/null 2>&1 || true
exit 1
