#!/usr/bin/env bash
# StackTach: set up, run the sandbox, test, package, deploy.
#
#   ./build.sh                 set up .venv, then start the sandbox: the API, a
#                              klugman shell, 2 yagi-event, 2 pipeline-worker and
#                              notigen simulating a cloud faster than real time, in
#                              a screen session "tach" (or in the foreground, each
#                              line prefixed by its process, when screen is missing)
#   ./build.sh --stop          stop the sandbox (nothing is left running)
#   ./build.sh --status        list the sandbox's processes
#   ./build.sh -t [-- ARGS]    set up .venv, then run the test suite (pytest ARGS),
#                              ruff and mypy
#   ./build.sh -q ...          skip the install step (use .venv as it is)
#   ./build.sh -p              build a deployable tarball in dist/ (wheels of
#                              StackTach and its dependencies, an offline
#                              install.sh, default target /opt/stv3)
#   ./build.sh -d INVENTORY    deploy with Ansible: ansible-playbook -i INVENTORY
#                              ansible/site.yml, installing the newest tarball
#                              of -p (-p -d builds one, then deploys it)
#   ./build.sh -h              this help
#
# Sandbox options (also as environment variables):
#   --production               MariaDB/MySQL + RabbitMQ instead of SQLite and the
#                              filesystem broker (STACKTACH_PRODUCTION=1)
#   --db-url URL               with --production; default
#                              mysql+pymysql://root@127.0.0.1:3306/stacktach_sandbox
#                              (created if missing) (STACKTACH_DB_URL)
#   --broker-url URL           with --production; default
#                              amqp://guest:guest@127.0.0.1:5672// (STACKTACH_BROKER_URL)
#   --exchange NAME, --queue NAME
#                              where notigen publishes and yagi-event reads
#                              (default nova, monitor.info)
#   --port N                   the API's port on 127.0.0.1, default 8000
#                              (STACKTACH_SANDBOX_PORT)
#   --detach                   start in the background and return once the API
#                              answers (STACKTACH_NONINTERACTIVE=1)
#   --no-screen                foreground (or, with --detach, background) without
#                              screen (STACKTACH_SANDBOX_SCREEN=0)
#   --speed N, --days N        simulated seconds per second (300), simulated days (7)
#   --instances N, --ops-per-hour N, --anomalies SHARE
#                              the simulated cloud (20 servers, 60 ops/h, 0.05)
#
# Environment: PYTHON (interpreter for the venv, default python3), STACKTACH_VENV
# (use this existing virtualenv instead of ./.venv, e.g. a clone's tests reusing
# an installed one), STACKTACH_SANDBOX_SESSION (screen session name, default tach).
# Works from any directory, on a machine that has only Python 3.11+ and pip.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=${STACKTACH_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$1" >&2; exit "${2:-1}"; }

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

require_venv() {
    [[ -x "$VENV/bin/python" ]] || die "-q: no virtualenv at $VENV; run ./build.sh once without -q" 2
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

sandbox() {
    # The sandbox runner lives in ./sandbox (not installed); run it from $ROOT.
    cd "$ROOT"
    PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$VENV/bin/python" -m sandbox "$@"
}

deploy() {
    local inventory=$1
    [[ -f "$inventory" ]] || die "-d: inventory file '$inventory' not found" 2
    command -v ansible-playbook >/dev/null 2>&1 ||
        die "-d: ansible-playbook is not installed (pip install ansible-core, or apt-get install ansible)" 2
    [[ -f "$ROOT/ansible/site.yml" ]] || die "-d: $ROOT/ansible/site.yml not found" 2
    cd "$ROOT"
    # The newest tarball of ./build.sh -p is what the common role installs.
    local tarball
    tarball=$(ls -t "$ROOT"/dist/stacktach-*.tar.gz 2>/dev/null | head -n 1 || true)
    [[ -n $tarball ]] ||
        die "-d: no tarball in $ROOT/dist: build one first (./build.sh -p -d $inventory)" 2
    exec ansible-playbook -i "$inventory" ansible/site.yml -e "stv3_tarball=$tarball"
}

main() {
    local test=0 quick=0 package=0 inventory="" action=start
    local -a sandbox_args=()
    while (( $# )); do
        case $1 in
            -t) test=1 ;;
            -q) quick=1 ;;
            -p) package=1 ;;
            -d) [[ $# -ge 2 ]] || die "-d needs an inventory file (try ./build.sh -h)" 2
                inventory=$2; shift ;;
            -h|--help) usage; exit 0 ;;
            --stop) action=stop ;;
            --status) action=status ;;
            --production|--detach|--no-screen|--screen) sandbox_args+=("$1") ;;
            --db-url|--broker-url|--exchange|--queue|--port|--speed|--days|--instances|--ops-per-hour|--anomalies)
                [[ $# -ge 2 ]] || die "$1 needs a value (try ./build.sh -h)" 2
                sandbox_args+=("$1" "$2"); shift ;;
            --db-url=*|--broker-url=*|--exchange=*|--queue=*|--port=*|--speed=*|--days=*|--instances=*|--ops-per-hour=*|--anomalies=*)
                sandbox_args+=("$1") ;;
            --) shift; break ;;
            -[tqph][tqph]*)
                # combined short options, e.g. -qt: split them
                local rest=${1#-?}; local first=${1:0:2}; shift
                set -- "$first" "-$rest" "$@"; continue ;;
            -*) if (( test )); then break; fi  # the rest is for pytest
                die "unknown option '$1' (try ./build.sh -h)" 2 ;;
            *) break ;;
        esac
        shift
    done
    if [[ $action != start ]]; then
        require_venv
        sandbox "$action"
    fi
    if (( quick )); then require_venv; else setup_venv; fi
    if (( test )); then
        run_tests "$@"
    elif (( package )); then
        cd "$ROOT"
        PYTHONPATH="$ROOT" "$VENV/bin/python" -m sandbox package
        if [[ -n $inventory ]]; then deploy "$inventory"; fi
    elif [[ -n $inventory ]]; then
        deploy "$inventory"
    else
        (( $# == 0 )) || die "unexpected argument '$1' (try ./build.sh -h)" 2
        sandbox start "${sandbox_args[@]}"
    fi
}

main "$@"
