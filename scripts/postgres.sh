#!/usr/bin/env bash
# A private PostgreSQL cluster for tests and benchmarks, on 127.0.0.1 only.
#
#   scripts/postgres.sh start DIR [--owner-pid PID]   init (if needed) and start; prints the URL
#   scripts/postgres.sh stop DIR                      stop it
#   scripts/postgres.sh url DIR                       print the URL of a started cluster
#
# Installs Debian's postgresql if no server binaries are found. PostgreSQL refuses to run as
# root, so as root the cluster runs as the `postgres` system user (created if missing).
# With --owner-pid the cluster stops by itself once that process exits, and its folder is
# removed (tests use this so no server outlives them).
set -euo pipefail

cmd="${1:-}"; dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
    echo "usage: $0 start|stop|url DIR [--owner-pid PID]" >&2; exit 2
fi
owner_pid=""
if [ "${3:-}" = "--owner-pid" ]; then owner_pid="${4:-}"; fi

find_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    return 1
}

need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

bin="$(find_bin || true)"
if [ -z "$bin" ]; then
    echo "postgres.sh: installing Debian's postgresql" >&2
    need_root apt-get update -qq >&2
    need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    bin="$(find_bin)"
fi

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

url_of() { echo "postgres://postgres@127.0.0.1:$(cat "$1/port")/postgres"; }

# Where the cluster lives: DIR itself, or (as root) a folder under /tmp owned by `postgres`,
# recorded in DIR/pgroot, because `postgres` may not be able to enter DIR's parents.
pgroot_of() { if [ -f "$1/pgroot" ]; then cat "$1/pgroot"; else echo "$1"; fi; }

case "$cmd" in
start)
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    fi
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [ "$(id -u)" -eq 0 ] && [ ! -f "$dir/pgroot" ]; then
        root="$(mktemp -d /tmp/didcomm-edge-pg.XXXXXX)"
        chown postgres "$root"; chmod 700 "$root"
        echo "$root" > "$dir/pgroot"
    fi
    root="$(pgroot_of "$dir")"
    if [ ! -f "$root/data/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$root/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if [ -f "$dir/port" ] && as_owner "$bin/pg_ctl" -D "$root/data" status >/dev/null 2>&1; then
        url_of "$dir"; exit 0
    fi
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    echo "$port" > "$dir/port"
    as_owner "$bin/pg_ctl" -D "$root/data" -l "$root/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$root \
            -c max_connections=300 -c shared_buffers=128MB -c fsync=on" >/dev/null \
        || { tail -20 "$root/server.log" >&2; exit 1; }
    if [ -n "$owner_pid" ]; then
        touch "$dir/ephemeral"
        # A watchdog: stop the cluster when the owner is gone.
        nohup bash -c "while kill -0 $owner_pid 2>/dev/null; do sleep 1; done; \
            '$0' stop '$dir'" >/dev/null 2>&1 &
    fi
    url_of "$dir"
    ;;
stop)
    root="$(pgroot_of "$dir")"
    if [ -d "$root/data" ]; then
        as_owner "$bin/pg_ctl" -D "$root/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    # A cluster of our own under /tmp is gone with its server.
    if [ -f "$dir/pgroot" ]; then rm -rf "$root"; rm -f "$dir/pgroot"; fi
    # A cluster started for a process that is gone takes its folder with it.
    if [ -f "$dir/ephemeral" ]; then rm -rf "$dir"; fi
    ;;
url)
    url_of "$dir"
    ;;
*)
    echo "usage: $0 start|stop|url DIR [--owner-pid PID]" >&2; exit 2
    ;;
esac
