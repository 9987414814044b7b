#!/usr/bin/env bash
# Runs every EMS test: unit, property, vector and end-to-end tests (real emsd processes, a real
# QRL node, schemathesis against a live emsd), the doctests, and each criterion bench once in
# test mode. Needs nothing outside the repository: the Python tools the tests run (the QRL node:
# Python 3.10, ~8 min cold; schemathesis: ~20 s of CPU) install into ~/.cache/ems while Rust compiles.
# Prints the wall time of each step.
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
# (apt-get, idempotent; before the background installs start, which may also call apt-get).
step "install embedding tools" scripts/install-embedding-tools.sh
export EMS_REQUIRE_VALGRIND=1 EMS_REQUIRE_QRL=1

# install_bg NAME SCRIPT: runs an install script in the background, its log in target/NAME-install.log.
installs=()
install_bg() {
  "$2" >"target/$1-install.log" 2>&1 &
  installs+=("$1:$!")
}
# Waits for every background install; shows the log of any that failed.
installs_done() {
  local entry failed=0
  for entry in "${installs[@]}"; do
    if ! wait "${entry#*:}"; then
      cat "target/${entry%%:*}-install.log" >&2
      echo "installing ${entry%%:*} failed (log above); the tests need it" >&2
      failed=1
    fi
  done
  return $failed
}

install_bg qrl-node scripts/qrl-node/install.sh
install_bg schemathesis scripts/schemathesis/install.sh
step "build tests" cargo test --workspace --all-targets --no-run
step "python tools installed (after the build)" installs_done
step "tests + benches (test mode)" cargo test --workspace --all-targets
step "doctests" cargo test --workspace --doc
# The fuzz targets still build and pass their seeds: each runs over fuzz/seeds/TARGET, then
# fuzzes for a few seconds (docs/testing.md).
step "fuzz smoke" scripts/fuzz.sh --smoke
# The Python bindings: the abi3 wheel (maturin, dev profile), pytest, the real qrl-node embedding.
step "python bindings (wheel + pytest)" scripts/test-python.sh
