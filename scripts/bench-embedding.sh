#!/usr/bin/env bash
# The cost of each embedding boundary: validating a mined 1 KiB frame against a pushed chain
# from Rust, C, Go (cgo) and Python, and mining a fixed amount of work through each (all cores).
# Release builds. Figures and machine load go in docs/performance.md.
# usage: bench-embedding.sh [ITERATIONS=200000] [MINE_WORK=20000000]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
W=${2:-20000000}
TOOLS=${EMS_PY_TOOLS:-$HOME/.cache/ems/py-tools-venv}
[ -x "$TOOLS/bin/maturin" ] || scripts/install-embedding-tools.sh "$TOOLS" >/dev/null
GO=$(command -v go || echo /usr/lib/go/bin/go)
cargo build --quiet --release -p ems-ffi --lib --example boundary_native
LIB=$PWD/target/release
out=target/bench-embedding
mkdir -p "$out"
cc -std=c11 -O2 -I crates/ems-ffi/include crates/ems-ffi/bench/boundary.c -o "$out/boundary_c" \
  -L "$LIB" -lems -lpthread -ldl -lm -Wl,-rpath,"$LIB"
(cd crates/ems-ffi/tests/go && CGO_CFLAGS="-I$PWD/../../include" \
  CGO_LDFLAGS="-L$LIB -Wl,-rpath,$LIB" "$GO" build -o "$PWD/../../../../$out/boundary_go" .)
"$TOOLS/bin/maturin" build --quiet --release --manifest-path crates/ems-py/Cargo.toml \
  --interpreter "$TOOLS/bin/python" --out "$out/wheels"
rm -rf "$out/site" && "$TOOLS/bin/pip" install --quiet --no-deps --target "$out/site" "$out"/wheels/*.whl
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
target/release/examples/boundary_native "$N" "$W"
"$out/boundary_c" "$N" "$W"
"$out/boundary_go" bench "$N" "$W"
PYTHONPATH="$out/site" "$TOOLS/bin/python" crates/ems-py/examples/boundary_bench.py "$N" "$W"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
