#!/usr/bin/env bash
# Installs schemathesis (PyPI, pinned in requirements.txt) into a virtualenv for the API test
# (crates/emsd/tests/openapi.rs). Idempotent, safe to run concurrently; ~20 s of CPU cold.
# usage: install.sh      (virtualenv: $EMS_SCHEMATHESIS_VENV, default ~/.cache/ems/schemathesis-venv)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${EMS_SCHEMATHESIS_VENV:-$HOME/.cache/ems/schemathesis-venv}
stamp=$venv/.requirements.txt

installed() { [ -x "$venv/bin/st" ] && cmp -s "$here/requirements.txt" "$stamp"; }
if installed; then
  echo "schemathesis already installed in $venv"
  exit 0
fi
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
installed && exit 0

# Any Python from 3.10 on with the venv module; on Debian as root, apt installs one if needed.
find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3 "$HOME"/.pyenv/versions/3.1[0-9].*/bin/python3; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null &&
      "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
}
python=$(find_python)
if [ -z "$python" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
  python=$(find_python)
fi
if [ -z "$python" ]; then
  echo "error: schemathesis needs Python 3.10 or newer with venv: apt-get install python3 python3-venv" >&2
  exit 1
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
cp "$here/requirements.txt" "$stamp"
echo "schemathesis installed in $venv"
