#!/usr/bin/env bash
# Runs every EMS test: unit, property, vector and end-to-end tests (real emsd processes, a real
# QRL node), the doctests, and each criterion bench once in test mode.
# The QRL node (Python, ~8 min cold, cached in ~/.cache/ems) installs while Rust compiles.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${EMS_SHARED_DIR:-$(cd .. && pwd)/shared}
mkdir -p target
log=target/qrl-node-install.log
"$shared/qrl-node/install.sh" >"$log" 2>&1 &
install=$!
cargo test --workspace --all-targets --no-run
if ! wait "$install"; then
  cat "$log" >&2
  echo "installing the QRL node failed (log above)" >&2
  exit 1
fi
cargo test --workspace --all-targets
cargo test --workspace --doc
# The fuzz targets still build and pass their seeds: each runs over fuzz/seeds/TARGET, then
# fuzzes for a few seconds (docs/testing.md).
scripts/fuzz.sh --smoke
