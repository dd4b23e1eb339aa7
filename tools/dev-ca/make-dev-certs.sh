#!/bin/sh
# Development CA and certificates for the session RPC's mutual TLS (openssl 3).
#   tools/dev-ca/make-dev-certs.sh [dir]      (default .data/certs)
# Writes ca.crt (+ ca.key), auth.crt/.key (server: DNS auth, localhost, IP 127.0.0.1), one
# client certificate per calling service (CN = the name auth's capability table knows),
# catalog-rpc.crt/.key (catalog's own RPC, which orders calls for prices) and orders' Ed25519
# session assertion key pair, orders-assertion.key/.pub (catalog trusts the .pub).
# Existing files are kept, so that restarts do not change identities. Never use these in
# production: the CA key sits next to the certificates.
set -eu

dir="${1:-.data/certs}"
days=365
clients="catalog orders"
mkdir -p "$dir"
umask 077

issue() { # name extended-key-usage [subject-alt-name]
  [ -f "$dir/$1.crt" ] && return 0
  san=""
  [ $# -ge 3 ] && san="-addext subjectAltName=$3"
  # shellcheck disable=SC2086 # $san is two words or none
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
    -subj "/CN=$1" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -keyout "$dir/$1.key" -out "$dir/$1.crt" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=$2" $san 2>/dev/null
}

if [ ! -f "$dir/ca.crt" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
    -subj "/CN=Cloakroom development CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
issue auth serverAuth "DNS:auth,DNS:localhost,IP:127.0.0.1"
for client in $clients; do
  issue "$client" clientAuth
done
issue catalog-rpc serverAuth "DNS:catalog,DNS:localhost,IP:127.0.0.1"
if [ ! -f "$dir/orders-assertion.key" ]; then
  openssl genpkey -algorithm ed25519 -out "$dir/orders-assertion.key" 2>/dev/null
  openssl pkey -in "$dir/orders-assertion.key" -pubout -out "$dir/orders-assertion.pub" 2>/dev/null
fi
# The services run as a non-root user in their containers: let them read their keys.
chmod 644 "$dir"/*.crt "$dir"/*.key "$dir"/*.pub
chmod 600 "$dir/ca.key"
echo "session RPC certificates in $dir"
