#!/usr/bin/env bash
# StackTach sandbox: set up, run, test.
#
#   ./build.sh        set up .venv and install StackTach into it
#   ./build.sh -t     the same, then run the whole test suite, ruff and mypy
#   ./build.sh -h     this help
#
# Works from any directory and on a machine that has only Python 3.11+ and pip.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3}

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
}

log() { printf '==> %s\n' "$*" >&2; }

setup_venv() {
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating $VENV"
        if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
            # Some distributions ship Python without ensurepip: use virtualenv.
            rm -rf "$VENV"
            "$PYTHON" -m pip install --quiet --user virtualenv
            "$PYTHON" -m virtualenv --quiet "$VENV"
        fi
    fi
    # Reinstall only when the project's metadata changed since the last install.
    local stamp="$VENV/.stacktach-installed"
    local digest
    digest=$(cat "$ROOT/pyproject.toml" | "$VENV/bin/python" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$digest" ]]; then
        log "installing StackTach and its development tools into $VENV"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -e "$ROOT[dev]"
        echo "$digest" > "$stamp"
    fi
}

run_tests() {
    cd "$ROOT"
    log "pytest"
    "$VENV/bin/python" -m pytest "$@"
    log "ruff"
    "$VENV/bin/ruff" check .
    log "mypy"
    "$VENV/bin/mypy"
}

main() {
    local test=0
    while getopts "th" opt; do
        case $opt in
            t) test=1 ;;
            h) usage; exit 0 ;;
            *) usage >&2; exit 2 ;;
        esac
    done
    shift $((OPTIND - 1))
    setup_venv
    if (( test )); then
        run_tests "$@"
    else
        log "StackTach is installed in $VENV (activate it with: . $VENV/bin/activate)"
    fi
}

main "$@"
