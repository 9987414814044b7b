#!/usr/bin/env bash
# Installs the real QRL node (PyPI qrl==4.0.12) into a Python 3.10 virtualenv, with the system
# packages its C++ extensions build against. Idempotent and safe to run concurrently (a lock);
# instant when installed, about 8 minutes cold on 2 cores (pip caches the wheels it builds).
# usage: install.sh            (virtualenv: $EMS_QRL_NODE_VENV, default ~/.cache/ems/qrl-node-venv)
#
# Why each pin (see README.md): qrl 4.0.12 builds only on Python 3.10 (Twisted 20.3.0 does not
# compile on 3.11+); its build step imports pkg_resources (setuptools<70, also inside pip's
# isolated build environments, hence --build-constraint, proven with pip 26.3); its generated
# code needs protobuf<=3.20.3, which grpcio-tools>=1.49 refuses.
set -euo pipefail
. "$(dirname "$0")/common.sh"

if qrl_node_installed; then
  echo "qrl node already installed in $QRL_NODE_VENV"
  exit 0
fi
PY=$(find_python310)

mkdir -p "$(dirname "$QRL_NODE_VENV")"
exec 9>"$QRL_NODE_VENV.lock"
flock 9
# Another install may have finished while this one waited for the lock.
if qrl_node_installed; then
  echo "qrl node already installed in $QRL_NODE_VENV"
  exit 0
fi

# cmake + swig build pyqrllib/qrandomx, boost and hwloc are headers they include.
packages=(cmake swig g++ make libboost-dev libhwloc-dev)
if ! command -v dpkg >/dev/null; then
  echo "note: not a Debian system; the build needs ${packages[*]} (or your system's equivalents)" >&2
elif ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: the QRL node build needs: apt-get install ${packages[*]} (run as root)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

"$PY" -m venv "$QRL_NODE_VENV"
pip=("$QRL_NODE_VENV/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" pip==26.3 'setuptools<70' wheel
"${pip[@]}" --build-constraint "$QRL_NODE_HARNESS/build-constraints.txt" \
  -c "$QRL_NODE_HARNESS/constraints.txt" qrl==4.0.12
qrl_node_installed || { echo "error: qrl installed but does not import" >&2; exit 1; }
echo "qrl node installed in $QRL_NODE_VENV"
