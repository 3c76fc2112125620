#!/usr/bin/env bash
# Test PKI for the gateway benchmark, made with openssl (ECDSA P-256):
#   root CA -> intermediate CA -> backend server cert, gateway server cert, gateway client cert.
# Every leaf is also written as <name>-chain.crt (leaf + intermediate, what a peer presents) and
# <name>.pem (chain + key, the bundle haproxy wants). Usage: pki.sh <dir>. Reuses <dir> when complete.
set -euo pipefail
DIR=${1:?usage: pki.sh <dir>}
mkdir -p "$DIR"
cd "$DIR"
if [ -f complete ]; then echo "pki: reusing $DIR" >&2; exit 0; fi

EXT=$(mktemp)
trap 'rm -f "$EXT"' EXIT
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
sign() { # <name> <issuer> <days>: signs <name>.csr with <issuer>.crt/.key using the extensions in $EXT
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -sha256 -days "$3" \
    -extfile "$EXT" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr"
}

newkey root
openssl req -new -x509 -key root.key -sha256 -days 3650 -subj "/O=meshgate bench/CN=Bench Root CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" -out root.crt

newkey inter
openssl req -new -key inter.key -subj "/O=meshgate bench/CN=Bench Intermediate CA" -out inter.csr
printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign" \
  "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid:always" >"$EXT"
sign inter root 1825

leaf() { # <name> <common name> <subjectAltName> <extendedKeyUsage>
  newkey "$1"
  openssl req -new -key "$1.key" -subj "/O=meshgate bench/CN=$2" -out "$1.csr"
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" "extendedKeyUsage=$4" \
    "subjectAltName=$3" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer" >"$EXT"
  sign "$1" inter 825
  cat "$1.crt" inter.crt >"$1-chain.crt"
  cat "$1-chain.crt" "$1.key" >"$1.pem"
}
leaf backend backend.test.local "DNS:backend.test.local,IP:127.0.0.1" serverAuth
leaf gateway gateway.test.local "DNS:gateway.test.local,IP:127.0.0.1" serverAuth
leaf client  gateway            "URI:spiffe://test.local/ns/bench/sa/gateway" clientAuth

for n in backend gateway client; do
  openssl verify -CAfile root.crt -untrusted inter.crt "$n.crt" >/dev/null
done
# throwaway keys; nginx and haproxy may read them after dropping privileges
chmod 644 ./*.key
rm -f ./*.srl
touch complete
echo "pki: written to $DIR" >&2
