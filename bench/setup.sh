#!/usr/bin/env bash
# Idempotent set-up for `make bench`: Debian load generators and the peers' venvs.
#
#   bench/.envs/kserve    kserve==0.21 + openvino (the same version as ovserve's .venv)
#   bench/.envs/mlserver  mlserver==1.7.1 + uvloop<0.22 (MLServer bug #2286) + openvino
#   bench/.envs/bentoml   bentoml==1.4.40 + uvloop + httptools (uvicorn's fast loop and parser) + openvino
#   bench/.envs/litserve  litserve==0.2.19 + openvino
#   bench/.envs/rayserve  ray[serve]==2.60.0 + openvino
#   bench/.envs/tools     py-spy==0.4.3, for bench/cpu_profile.py
#
# The peers cannot share one venv (conflicting pins), hence one each (all from PyPI, with the
# Python that runs this script: 3.11 here). Each venv is
# stamped with the exact requirement line it was built from and rebuilt only when that
# line changes. Runs as root on the bench machines (apt-get); without root, install
# wrk and nghttp2-client (h2load) yourself.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
envs="$here/.envs"
python="${PYTHON:-python3}"
main_py="$root/.venv/bin/python"

need_deb=()
command -v wrk >/dev/null || need_deb+=(wrk)
command -v h2load >/dev/null || need_deb+=(nghttp2-client)
command -v taskset >/dev/null || need_deb+=(util-linux)
if ((${#need_deb[@]})); then
    echo "bench/setup: installing Debian packages: ${need_deb[*]}"
    if [ "$(id -u)" != 0 ]; then
        echo "bench/setup: not root: install ${need_deb[*]} and run again" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${need_deb[@]}"
fi

# The peers run the same OpenVINO release as ovserve.
ov_version="$("$main_py" -c 'import importlib.metadata as m; print(m.version("openvino"))')"

make_env() { # name, pip requirements...
    local name="$1"
    shift
    local dir="$envs/$name" want="$*"
    if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$want" ]; then
        return
    fi
    echo "bench/setup: building $dir ($want)"
    rm -rf "$dir"
    mkdir -p "$envs"
    "$python" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip
    "$dir/bin/python" -m pip install -q "$@"
    echo "$want" >"$dir/.stamp"
}

make_env kserve "kserve==0.21.0" "openvino==$ov_version"
make_env mlserver "mlserver==1.7.1" "uvloop<0.22" "openvino==$ov_version"
make_env bentoml "bentoml==1.4.40" "uvloop==0.23.0" "httptools==0.9.0" "openvino==$ov_version"
make_env litserve "litserve==0.2.19" "openvino==$ov_version"
make_env rayserve "ray[serve]==2.60.0" "openvino==$ov_version"
make_env tools "py-spy==0.4.3" # bench/cpu_profile.py (with perf, Debian linux-perf)
echo "bench/setup: ready ($envs)"
