# shellcheck shell=bash
# A throwaway PostgreSQL cluster for scripts, made the way tests/support/postgres.cpp makes one:
#   pg_up DIR PWFILE  initdb into DIR/data (DIR: an empty directory, e.g. from mktemp -d) and start the server on
#                     a free port of 127.0.0.1 with its socket in DIR; make the role `custos` with a random
#                     password, written to PWFILE (mode 0600), and the database `custos` it owns; print the
#                     libpq DSN (no password in it) on stdout. PostgreSQL refuses to run as root: as root the
#                     cluster runs as the `postgres` user (else `nobody`) and DIR is handed to that user.
#   pg_store TOML DSN PWFILE  point the verifier.toml that `custos-verifier init` wrote at the cluster:
#                     [store] backend, dsn and password_file (a path relative to TOML's directory); fails
#                     when any of the three did not take
#   pg_down DIR       stop it at once (pg_ctl -m immediate); DIR is left for the caller to remove.
# Local (socket) connections authenticate by peer, TCP ones by password (scram-sha-256). The cluster skips
# fsync (a throwaway); CUSTOS_PG_DURABLE=1 keeps PostgreSQL's durable defaults (benchmarks).
# Needs the Debian package postgresql (scripts/setup installs it), or CUSTOS_PG_BINDIR. Source this file.

# The newest /usr/lib/postgresql/*/bin holding initdb, or $CUSTOS_PG_BINDIR.
_pg_bindir() {
    if [[ -n ${CUSTOS_PG_BINDIR:-} ]]; then
        echo "$CUSTOS_PG_BINDIR"
        return 0
    fi
    local found
    found=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -1)
    if [[ -z $found ]]; then
        echo "pg_up: no initdb under /usr/lib/postgresql/*/bin (install the Debian package postgresql, or set CUSTOS_PG_BINDIR)" >&2
        return 1
    fi
    dirname "$found"
}

# The user the server runs as: ourselves, or an unprivileged one when we are root.
_pg_user() {
    if ((EUID != 0)); then
        id -un
    elif id -u postgres >/dev/null 2>&1; then
        echo postgres
    else
        echo nobody
    fi
}

# _pg_as USER CMD...: CMD as USER (runuser when that is not us). Callers cd into DIR first: USER may not be
# able to read our working directory.
_pg_as() {
    local user=$1
    shift
    if [[ $user == "$(id -un)" ]]; then
        "$@"
    else
        runuser -u "$user" -- "$@"
    fi
}

# _pg_free_port [low]: a free TCP port on 127.0.0.1; "low": one in 20000-32767, below the kernel's ephemeral
# range, which an outgoing connection never takes meanwhile.
# shellcheck disable=SC2120 # the argument is optional
_pg_free_port() {
    python3 - "${1:-}" <<'PY'
import random, socket, sys
for _ in range(200):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randint(20000, 32767) if sys.argv[1] == "low" else 0))
    except OSError:
        s.close()
        continue
    print(s.getsockname()[1])
    break
else:
    sys.exit("no free port")
PY
}

pg_up() {
    local dir=${1:?usage: pg_up DIR PWFILE} pwfile=${2:?usage: pg_up DIR PWFILE} bin user port="" try password fast=""
    [[ ${CUSTOS_PG_DURABLE:-0} == 1 ]] || fast=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    bin=$(_pg_bindir) || return 1
    user=$(_pg_user)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # The server insists on owning its data directory, and writes its socket and log beside it.
    if ((EUID == 0)); then chown "$user:" "$dir"; fi
    if ! _pg_as "$user" test -w "$dir"; then
        echo "pg_up: $dir is not writable by $user (is a directory above it private?)" >&2
        return 1
    fi
    # The superuser is named after the OS user, so that peer authentication lets that user in over the socket.
    if ! (cd "$dir" && _pg_as "$user" "$bin/initdb" -D "$dir/data" -U "$user" --auth-local=peer \
        --auth-host=scram-sha-256 --no-sync -E UTF8 --locale=C) >"$dir/initdb.log" 2>&1; then
        echo "pg_up: initdb failed:" >&2
        cat "$dir/initdb.log" >&2
        return 1
    fi
    # Another process may take the probed port before the server binds it: then try another.
    for try in 1 2 3; do
        port=$(_pg_free_port)
        if (cd "$dir" && _pg_as "$user" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200$fast" \
            start) >"$dir/pg_ctl.log" 2>&1; then
            break
        fi
        if ((try == 3)); then
            echo "pg_up: pg_ctl start failed:" >&2
            cat "$dir/pg_ctl.log" "$dir/server.log" >&2 2>/dev/null
            return 1
        fi
    done
    echo "$port" >"$dir/port"
    password=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
    (umask 077 && printf '%s\n' "$password" >"$pwfile")
    # Over stdin, so that the password is on no command line.
    if ! printf "CREATE ROLE custos LOGIN PASSWORD '%s';\nCREATE DATABASE custos OWNER custos;\n" "$password" |
        (cd "$dir" && _pg_as "$user" "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -d postgres) >"$dir/psql.log" 2>&1; then
        echo "pg_up: creating the custos role and database failed:" >&2
        cat "$dir/psql.log" >&2
        pg_down "$dir"
        return 1
    fi
    echo "host=127.0.0.1 port=$port dbname=custos user=custos connect_timeout=5"
}

pg_store() {
    local toml=${1:?usage: pg_store TOML DSN PWFILE} dsn=${2:?usage: pg_store TOML DSN PWFILE} pw=${3:?usage: pg_store TOML DSN PWFILE} want
    sed -i "s|^backend = 'sqlite'|backend = 'postgresql'|; s|^dsn = ''|dsn = '$dsn'|; s|^password_file = ''|password_file = '$pw'|" "$toml"
    for want in "backend = 'postgresql'" "dsn = '$dsn'" "password_file = '$pw'"; do
        if ! grep -qF "$want" "$toml"; then
            echo "pg_store: could not set [store] in $toml (has its format changed?)" >&2
            return 1
        fi
    done
}

pg_down() {
    local dir=${1:?usage: pg_down DIR} bin user
    [[ -f $dir/data/postmaster.pid ]] || return 0
    bin=$(_pg_bindir) || return 1
    user=$(stat -c %U "$dir/data")
    (cd "$dir" && _pg_as "$user" "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop) >/dev/null 2>&1 || true
}
