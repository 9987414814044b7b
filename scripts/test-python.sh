#!/usr/bin/env bash
# Builds the Python wheel of crates/ems-py with maturin (abi3, Python >= 3.10; dev profile unless
# EMS_PY_PROFILE says otherwise), installs it into target/ems-py/site, and runs its pytest suite
# with Python 3.10 (the oldest supported), including the embedding test inside the real
# qrl-node's virtualenv when that is installed.
# usage: test-python.sh [PYTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${EMS_PY_TOOLS:-$HOME/.cache/ems/py-tools-venv}
[ -x "$TOOLS/bin/maturin" ] || scripts/install-embedding-tools.sh "$TOOLS" >/dev/null
profile=${EMS_PY_PROFILE:-dev}
start=$(date +%s)
rm -rf target/ems-py/wheels target/ems-py/site
CARGO_INCREMENTAL=0 "$TOOLS/bin/maturin" build --quiet --manifest-path crates/ems-py/Cargo.toml --profile "$profile" \
  --interpreter "$TOOLS/bin/python" --out target/ems-py/wheels
"$TOOLS/bin/pip" install --quiet --no-deps --target target/ems-py/site target/ems-py/wheels/*.whl
# The tests start a separate emsd (target/debug/emsd): make sure it is current with the command
# scripts/test.sh builds with, so nothing compiles twice for another feature set (a no-op there).
cargo test --quiet --workspace --all-targets --no-run
echo "wheel built and installed: $(( $(date +%s) - start )) s ($(ls target/ems-py/wheels))"
PYTHONPATH="$PWD/target/ems-py/site" "$TOOLS/bin/python" -m pytest -q crates/ems-py/tests "$@"
