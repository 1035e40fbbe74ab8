# shellcheck shell=bash
# A private software TPM for scripts, made the way tests/support/swtpm.cpp makes one:
#   swtpm_up DIR    manufacture a TPM in DIR whose EK certificates come from a CA made there (never the system's
#                   swtpm-localca), start swtpm on a free port pair, export CUSTOS_TCTI, write DIR/tcti and DIR/ca.pem
#   swtpm_down DIR  stop it (DIR is left for the caller to remove)
# Needs openssl, swtpm, swtpm-tools and tpm2-tools (scripts/setup installs them). Source this file.

# True when something accepts connections on 127.0.0.1:PORT (bash's /dev/tcp; no iproute2 needed).
_swtpm_listening() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

_swtpm_alive() {
    local pid=$1 state
    kill -0 "$pid" 2>/dev/null || return 1
    # A zombie waiting for a PID 1 that never reaps (containers) has ended.
    state=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$pid/stat" 2>/dev/null || true)
    [[ $state != Z ]]
}

swtpm_up() {
    local dir=${1:?usage: swtpm_up DIR}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd) # absolute: swtpm --daemon changes its directory to /
    mkdir -p "$dir/ca" "$dir/state" "$dir/localca"

    # 1. The "manufacturer": a self-signed CA that will sign the EK certificates.
    local tag
    tag=$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
    if ! openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
        -subj "/O=custos demo/CN=custos demo EK CA $tag" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$dir/ca/key.pem" -out "$dir/ca/cert.pem" >"$dir/ca/openssl.log" 2>&1; then
        echo "swtpm_up: making the test CA failed:" >&2
        cat "$dir/ca/openssl.log" >&2
        return 1
    fi
    chmod 600 "$dir/ca/key.pem"
    cp "$dir/ca/cert.pem" "$dir/ca.pem"

    # 2. Manufacture: EKs (RSA-2048, ECC P-384) and their certificates in NV, signed by that CA.
    cat >"$dir/swtpm-localca.conf" <<EOF
statedir = $dir/localca
signingkey = $dir/ca/key.pem
issuercert = $dir/ca/cert.pem
certserial = $dir/localca/certserial
EOF
    : >"$dir/swtpm-localca.options"
    cat >"$dir/swtpm_setup.conf" <<EOF
create_certs_tool = swtpm_localca
create_certs_tool_config = $dir/swtpm-localca.conf
create_certs_tool_options = $dir/swtpm-localca.options
active_pcr_banks = sha256,sha1
EOF
    if ! swtpm_setup --tpm2 --tpmstate "$dir/state" --config "$dir/swtpm_setup.conf" --pcr-banks sha256,sha1 \
        --create-ek-cert --overwrite --logfile "$dir/setup.log" >/dev/null 2>&1; then
        echo "swtpm_up: swtpm_setup failed:" >&2
        cat "$dir/setup.log" >&2
        return 1
    fi

    # 3. Start swtpm on a free data/control port pair. Another process may take a probed port before swtpm
    #    binds it: swtpm then exits with "Address already in use" and another pair is tried.
    local port="" try lines
    for try in $(seq 1 50); do
        local p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if _swtpm_listening "$p" || _swtpm_listening "$((p + 1))"; then continue; fi
        lines=0
        [[ ! -f $dir/swtpm.log ]] || lines=$(wc -l <"$dir/swtpm.log")
        if swtpm socket --tpm2 \
            --server "type=tcp,port=$p,bindaddr=127.0.0.1" --ctrl "type=tcp,port=$((p + 1)),bindaddr=127.0.0.1" \
            --flags not-need-init,startup-clear --tpmstate "dir=$dir/state" \
            --daemon --pid "file=$dir/swtpm.pid" --log "file=$dir/swtpm.log" >/dev/null 2>&1; then
            port=$p
            break
        fi
        if ! tail -n "+$((lines + 1))" "$dir/swtpm.log" 2>/dev/null | grep -q "Address already in use"; then
            echo "swtpm_up: swtpm did not start (try $try):" >&2
            cat "$dir/swtpm.log" >&2 2>/dev/null || true
            return 1
        fi
    done
    if [[ -z $port ]]; then
        echo "swtpm_up: no free port pair after 50 tries" >&2
        return 1
    fi

    local _
    for _ in $(seq 1 200); do
        _swtpm_listening "$port" && break
        sleep 0.05
    done
    if ! _swtpm_listening "$port"; then
        echo "swtpm_up: swtpm is not accepting on port $port:" >&2
        cat "$dir/swtpm.log" >&2
        swtpm_down "$dir"
        return 1
    fi

    export CUSTOS_TCTI="swtpm:host=127.0.0.1,port=$port"
    echo "$CUSTOS_TCTI" >"$dir/tcti"
    # Like a new TPM: swtpm_setup's own start-ups left resetCount at 2. TPM2_Clear keeps the EKs and certificates.
    if ! TPM2TOOLS_TCTI=$CUSTOS_TCTI tpm2_clear >"$dir/clear.log" 2>&1; then
        echo "swtpm_up: tpm2_clear failed:" >&2
        cat "$dir/clear.log" >&2
        swtpm_down "$dir"
        return 1
    fi
}

swtpm_down() {
    local dir=${1:?usage: swtpm_down DIR} pid _
    pid=$(cat "$dir/swtpm.pid" 2>/dev/null) || return 0
    [[ -n $pid ]] || return 0
    if _swtpm_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            _swtpm_alive "$pid" || break
            sleep 0.03
        done
        if _swtpm_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$dir/swtpm.pid"
}
