#!/usr/bin/env bash
# Tests of the Python module qubes_config_sync, as the README's test command runs them:
#
#   1. a virtual environment (default: $CARGO_TARGET_DIR/python-venv, else <repo>/target/python-venv)
#      with pinned maturin and pytest from PyPI;
#   2. the module built into it with `maturin develop`;
#   3. the binaries the tests start (qubes-sim, qubes-config-syncd, qubes-config-agent), built in the normal
#      target directory so CI builds them once for everything;
#   4. the crate's own Rust unit tests (it is outside the root workspace, so `cargo test`
#      there does not run them), then pytest; pytest's exit code is the script's ("no
#      tests collected" counts as a failure).
#
# Needs on Debian 12: python3-venv python3-dev (pip comes with the venv), dbus-daemon, a C
# compiler (build-essential) for the bundled SQLite.
# Extra arguments go to pytest (e.g. `-k features -x`).
set -euo pipefail

MATURIN_VERSION=1.16.0
PYTEST_VERSION=8.4.2

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
venv="${QCS_PYTHON_VENV:-$target/python-venv}"
python="${PYTHON:-python3}"

log() { printf '==> %s\n' "$*" >&2; }

if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv"
    "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -m pip show maturin 2>/dev/null | grep -qx "Version: $MATURIN_VERSION" ||
    ! "$venv/bin/python" -m pip show pytest 2>/dev/null | grep -qx "Version: $PYTEST_VERSION"; then
    log "installing maturin $MATURIN_VERSION and pytest $PYTEST_VERSION"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "maturin==$MATURIN_VERSION" "pytest==$PYTEST_VERSION"
fi

# One interpreter for every build of pyo3 (maturin's and cargo test's), so neither
# invalidates the other's build.
export PYO3_PYTHON="$venv/bin/python"

log "building the binaries the tests start"
(cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --quiet -p qcs-sim -p qcs-daemon -p qcs-agent)

log "building the module into $venv"
(cd "$here" && CARGO_TARGET_DIR="$target" VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" \
    "$venv/bin/maturin" develop --quiet --manifest-path "$here/Cargo.toml")

log "running the crate's Rust unit tests"
(cd "$here" && CARGO_TARGET_DIR="$target" cargo test --quiet)

log "running pytest"
status=0
QCS_BIN_DIR="$target/debug" "$venv/bin/python" -m pytest "$here/tests" "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "run-tests.sh: pytest collected no tests" >&2
    status=1
fi
exit "$status"
