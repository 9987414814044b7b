#!/usr/bin/env bash
# Wall time of each `ems` command against one local relay at the default policy and the CLI's
# default 1 h TTL; mining dominates and its time is exponentially distributed, so every step
# runs several times. Usage: scripts/client-timings.sh [BIN_DIR=target/release] [RUNS=5]
set -euo pipefail
B=${1:-target/release}; N=${2:-5}; D=$(mktemp -d)
$B/emsd run --data-dir "$D/n" --listen /ip4/127.0.0.1/tcp/0 --api 127.0.0.1:0 2>/dev/null & PID=$!
trap 'kill $PID; rm -rf "$D"' EXIT
until [ -f "$D/n/node.json" ]; do sleep 0.1; done
export EMS_NODE=$(grep -o 'http://[^"]*' "$D/n/node.json") EMS_QUIET=1 TIMEFORMAT=%R
t() { local label=$1; shift; printf '%-32s\t' "$label"; { time "$@" >/dev/null; } 2>&1; }
t "keygen" $B/ems keygen --out "$D/a.key"
for i in $(seq $N); do
  $B/ems keygen --out "$D/b$i.key" >/dev/null
  t "keys announce (6617 B frame)" $B/ems keys announce --keys "$D/b$i.key"
  t "channel open (7753 B frame)" $B/ems channel open --keys "$D/a.key" --to "$D/b$i.key.bundle" --name "b$i"
  t "recv + accept (8307 B frame)" $B/ems recv --keys "$D/b$i.key"
  t "send 10 B (371 B frame)" $B/ems send --keys "$D/a.key" --channel "b$i" "message $i"
  t "send --sign (4211 B frame)" $B/ems send --sign --keys "$D/a.key" --channel "b$i" "signed $i"
  t "recv 2 messages" $B/ems recv --keys "$D/b$i.key"
  t "channel rekey (8307 B frame)" $B/ems channel rekey --keys "$D/a.key" --channel "b$i"
done | sort -s -t$'\t' -k1,1
