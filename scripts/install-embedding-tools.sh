#!/usr/bin/env bash
# Installs what the embedding tests (crates/ems-ffi, crates/ems-py) need beyond Rust, idempotently:
# the system C compiler, valgrind and Go (Debian's golang-go) for the C ABI tests, and a small
# Python 3.10 virtualenv holding maturin (builds the wheel) and pytest.
# usage: install-embedding-tools.sh [TOOLS_VENV]   (default: ~/.cache/ems/py-tools-venv)
set -euo pipefail
VENV=${1:-$HOME/.cache/ems/py-tools-venv}
missing=()
command -v cc >/dev/null || missing+=(gcc libc6-dev)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v go >/dev/null || [ -x /usr/lib/go/bin/go ] || missing+=(golang-go)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -x "$VENV/bin/maturin" ] || [ ! -x "$VENV/bin/pytest" ]; then
  . "$(dirname "$0")/qrl-node/common.sh"
  py310=$(find_python310)
  "$py310" -m venv "$VENV"
  "$VENV/bin/pip" install -q 'maturin>=1.9,<2' 'pytest>=8,<10'
fi
echo "embedding tools ready: $(go version 2>/dev/null || /usr/lib/go/bin/go version), $("$VENV/bin/maturin" --version), pytest $("$VENV/bin/pytest" --version 2>&1 | awk '{print $2}')"
