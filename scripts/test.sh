#!/usr/bin/env bash
# Runs every EMS test: unit, property, vector and end-to-end tests (real emsd processes, a real
# QRL node), the doctests, and each criterion bench once in test mode.
# The QRL node (Python, ~8 min cold, cached in ~/.cache/ems) installs while Rust compiles.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${EMS_SHARED_DIR:-$(cd .. && pwd)/shared}
mkdir -p target
# The C compiler, valgrind and Go for the C ABI tests, maturin and pytest for the Python ones
# (before the QRL install starts: both may call apt-get).
start=$(date +%s)
scripts/install-embedding-tools.sh
echo "embedding tools: $(( $(date +%s) - start )) s"
export EMS_REQUIRE_VALGRIND=1 EMS_REQUIRE_QRL=1
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
# The Python bindings: the abi3 wheel (maturin, dev profile), pytest, the real qrl-node embedding.
start=$(date +%s)
scripts/test-python.sh
echo "python bindings (wheel + pytest): $(( $(date +%s) - start )) s"
