#!/bin/sh
# Development CA and certificates for the session RPC's mutual TLS (openssl 3).
#   tools/dev-ca/make-dev-certs.sh [dir]      (default .data/certs)
# Writes ca.crt (+ ca.key), auth.crt/.key (server: DNS auth, localhost, IP 127.0.0.1), one
# client certificate per calling service (CN = the name auth's capability table knows),
# catalog-rpc.crt/.key (catalog's own RPC, which orders calls for prices) and orders' Ed25519
# session assertion key pair, orders-assertion.key/.pub (catalog trusts the .pub).
# Existing files are kept, so that restarts do not change identities, until a certificate is
# within 30 days of its end: it is made again (the CA's, and with it every other). Private keys
# are readable by their owner alone. Never use these in production: the CA key sits next to
# the certificates.
set -eu

dir="${1:-.data/certs}"
days="${DEV_CERT_DAYS:-365}"
clients="catalog orders"
mkdir -p "$dir"
umask 077

# Whether a certificate is there and good for 30 more days.
fresh() {
  [ -f "$1" ] && openssl x509 -checkend 2592000 -noout -in "$1" >/dev/null 2>&1
}

issue() { # name extended-key-usage [subject-alt-name]
  fresh "$dir/$1.crt" && return 0
  san=""
  [ $# -ge 3 ] && san="-addext subjectAltName=$3"
  # shellcheck disable=SC2086 # $san is two words or none
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
    -subj "/CN=$1" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -keyout "$dir/$1.key" -out "$dir/$1.crt" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=$2" $san 2>/dev/null
}

if ! fresh "$dir/ca.crt"; then
  rm -f "$dir"/*.crt
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
# Certificates are public; keys are the owner's (the compose file's certs service gives each
# container's user its own copies).
chmod 644 "$dir"/*.crt "$dir"/*.pub
chmod 600 "$dir"/*.key
echo "session RPC certificates in $dir"
