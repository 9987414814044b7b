#!/usr/bin/env bash
# Runs every EMS test: unit, property, vector and end-to-end tests (real emsd processes, a real
# QRL node), the doctests, and each criterion bench once in test mode. Needs nothing outside the
# repository: the QRL node (Python 3.10, ~8 min cold, cached in ~/.cache/ems) is installed by
# scripts/qrl-node/install.sh while Rust compiles. Prints the wall time of each step.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
# step NAME COMMAND...: runs COMMAND, then prints how long it took.
step() {
  local name=$1 start=$SECONDS
  shift
  "$@"
  echo "== $name: $((SECONDS - start)) s"
}

# The C compiler, valgrind and Go for the C ABI tests, maturin and pytest for the Python ones
# (apt-get, idempotent; before the QRL install starts, which may also call apt-get).
step "install embedding tools" scripts/install-embedding-tools.sh
export EMS_REQUIRE_VALGRIND=1 EMS_REQUIRE_QRL=1

# The QRL node installs in the background while the tests compile.
qrl_log=target/qrl-node-install.log
scripts/qrl-node/install.sh >"$qrl_log" 2>&1 &
qrl_install=$!
qrl_node_ready() {
  if ! wait "$qrl_install"; then
    cat "$qrl_log" >&2
    echo "installing the QRL node failed (log above); the chain tests need it" >&2
    return 1
  fi
}

step "build tests" cargo test --workspace --all-targets --no-run
step "install qrl node (rest)" qrl_node_ready
step "tests + benches (test mode)" cargo test --workspace --all-targets
step "doctests" cargo test --workspace --doc
# The Python bindings: the abi3 wheel (maturin, dev profile), pytest, the real qrl-node embedding.
step "python bindings (wheel + pytest)" scripts/test-python.sh
