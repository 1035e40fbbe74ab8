#!/bin/bash
# Regenerates the tpm2-tools reference quotes in this folder with swtpm and tpm2-tools 5.4:
#   tests/data/tpm2-tools/generate.sh [PORT]     (uses PORT and PORT+1 .. PORT+3; default 24510)
# Each of ecc/ and rsa/ holds one AK (ECDSA P-256 / RSASSA-2048, sha256) under an RSA EK and:
#   ak.pub.pem        the AK public key (tpm2_createak -f pem)
#   ak.pub            its TPM2B_PUBLIC (tpm2_readpublic -o)
#   ak.name           its name (tpm2_createak -n; checked equal to tpm2_readpublic -n)
#   qualification.hex the qualifying data given to tpm2_quote -q
#   quote.{msg,sig,pcrs}   tpm2_quote -l sha256:0,1,2,3,4,5,6,7,16 (two digest blocks in quote.pcrs)
#   quote2.{msg,sig,pcrs}  tpm2_quote -l sha1:7+sha256:0,16 (two banks)
# Every quote is checked with tpm2_checkquote before it is kept.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=${1:-24510}
qual=00112233445566778899aabbccddeeff

gen() {
    local alg=$1 p=$2 out=$here/$1
    local d
    d=$(mktemp -d)
    swtpm socket --tpm2 --tpmstate dir="$d" --server type=tcp,port="$p" --ctrl type=tcp,port=$((p + 1)) \
        --flags not-need-init,startup-clear --daemon --pid file="$d/pid"
    # shellcheck disable=SC2064
    trap "kill \$(cat $d/pid) 2>/dev/null; rm -rf $d" RETURN
    sleep 0.5
    export TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=$p
    mkdir -p "$out"
    # Non-zero values in a few PCRs, so the digests are not all alike.
    tpm2_pcrextend 0:sha256=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff >/dev/null
    tpm2_pcrextend 16:sha256=ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100 >/dev/null
    tpm2_pcrextend 7:sha1=00112233445566778899aabbccddeeff00112233 >/dev/null
    tpm2_createek -c "$d/ek.ctx" -G rsa -u "$d/ek.pub" >/dev/null
    if [ "$alg" = ecc ]; then
        tpm2_createak -C "$d/ek.ctx" -c "$d/ak.ctx" -G ecc -g sha256 -s ecdsa -u "$out/ak.pub.pem" -f pem \
            -n "$out/ak.name" >/dev/null
    else
        tpm2_createak -C "$d/ek.ctx" -c "$d/ak.ctx" -G rsa -g sha256 -s rsassa -u "$out/ak.pub.pem" -f pem \
            -n "$out/ak.name" >/dev/null
    fi
    tpm2_flushcontext -t; tpm2_flushcontext -s   # swtpm: three transient slots
    tpm2_readpublic -c "$d/ak.ctx" -o "$out/ak.pub" -n "$d/readpublic.name" >/dev/null
    tpm2_flushcontext -t
    cmp "$out/ak.name" "$d/readpublic.name"
    printf '%s' "$qual" >"$out/qualification.hex"
    tpm2_quote -c "$d/ak.ctx" -l sha256:0,1,2,3,4,5,6,7,16 -q "$qual" -g sha256 \
        -m "$out/quote.msg" -s "$out/quote.sig" -o "$out/quote.pcrs" >/dev/null
    tpm2_flushcontext -t
    tpm2_checkquote -u "$out/ak.pub.pem" -m "$out/quote.msg" -s "$out/quote.sig" -f "$out/quote.pcrs" \
        -g sha256 -q "$qual" >/dev/null
    tpm2_quote -c "$d/ak.ctx" -l sha1:7+sha256:0,16 -q "$qual" -g sha256 \
        -m "$out/quote2.msg" -s "$out/quote2.sig" -o "$out/quote2.pcrs" >/dev/null
    tpm2_flushcontext -t
    tpm2_checkquote -u "$out/ak.pub.pem" -m "$out/quote2.msg" -s "$out/quote2.sig" -f "$out/quote2.pcrs" \
        -g sha256 -q "$qual" >/dev/null
    chmod 644 "$out"/*
    echo "wrote $out"
}

gen ecc "$port"
gen rsa $((port + 2))
