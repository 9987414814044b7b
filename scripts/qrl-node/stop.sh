#!/usr/bin/env bash
# Stops the QRL node start.sh started in DIR: SIGTERM, then SIGKILL after 10 s; returns once it
# is gone. With --clean also deletes DIR. A node that is not running is not an error.
# usage: stop.sh DIR [--clean]
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 DIR [--clean]" >&2; exit 2; }
dir=$1
# Running and not a zombie (an exited node whose parent has not reaped it yet counts as gone).
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]; }
if [ -f "$dir/node.pid" ]; then
  pid=$(cat "$dir/node.pid")
  kill "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  if alive "$pid"; then
    kill -9 "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.1; done
  fi
  rm -f "$dir/node.pid"
fi
if [ "${2:-}" = --clean ]; then rm -rf "$dir"; fi
