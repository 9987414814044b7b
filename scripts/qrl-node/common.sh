# Sourced by the QRL node harness scripts: where the node is installed and which Python runs it.
# EMS_QRL_NODE_VENV overrides the virtualenv (default ~/.cache/ems/qrl-node-venv).

QRL_NODE_VENV=${EMS_QRL_NODE_VENV:-$HOME/.cache/ems/qrl-node-venv}
QRL_NODE_HARNESS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Prints the path of a Python 3.10 interpreter (PY310, pyenv's 3.10.x, or the system's), or
# explains what to install and returns non-zero. qrl 4.0.12 builds only on 3.10.
find_python310() {
  local candidate
  for candidate in "${PY310:-}" "$HOME"/.pyenv/versions/3.10.*/bin/python3.10 \
    /usr/bin/python3.10 /usr/local/bin/python3.10 "$(command -v python3.10 2>/dev/null || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] &&
      "$candidate" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  cat >&2 <<'MSG'
error: the QRL node needs Python 3.10 (qrl 4.0.12 does not build on 3.11 or newer), and none was found.
Install it, then run this again:
  Ubuntu 22.04:       apt-get install python3.10 python3.10-venv python3.10-dev
  Debian 12, others:  apt-get install build-essential libssl-dev zlib1g-dev libbz2-dev libreadline-dev \
                        libsqlite3-dev libffi-dev liblzma-dev curl git
                      curl -fsSL https://pyenv.run | bash && ~/.pyenv/bin/pyenv install 3.10.13
  or point PY310 at an existing interpreter: PY310=/path/to/python3.10
The chain tests use the real node and fail without it; they are not skipped.
MSG
  return 1
}

# True when the virtualenv holds a working qrl 4.0.12 (cheap enough to run before every test).
qrl_node_installed() {
  [ -x "$QRL_NODE_VENV/bin/python" ] && "$QRL_NODE_VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata, sys
import grpc, qrl.main
from qrl.generated import qrl_pb2_grpc
sys.exit(importlib.metadata.version("qrl") != "4.0.12")
PY
}
