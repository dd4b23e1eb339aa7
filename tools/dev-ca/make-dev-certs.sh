#!/bin/sh
# Development CA and certificates for the session RPC's mutual TLS (openssl 3).
#   tools/dev-ca/make-dev-certs.sh [dir]      (default .data/certs)
# Writes ca.crt (+ ca.key), auth.crt/.key (server: DNS auth, localhost, IP 127.0.0.1) and one
# client certificate per remote-mode service (CN = the name auth's capability table knows).
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
# The services run as a non-root user in their containers: let them read their keys.
chmod 644 "$dir"/*.crt "$dir"/*.key
chmod 600 "$dir/ca.key"
echo "session RPC certificates in $dir"
