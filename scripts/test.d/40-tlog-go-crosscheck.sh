#!/usr/bin/env bash
# Cross-checks the transparency log with an independent implementation, Go's
# golang.org/x/mod/sumdb/{note,tlog} (Debian golang-go + golang-golang-x-mod-dev, GOPATH mode):
# a log written by detente-tlog and served over loopback HTTP must pass both the Go checker and
# `detente verify`; the Go-generated 70,000-entry log in testdata/tlog-vectors must pass the Go
# checker; a copy with one changed tile byte must fail both.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="$PWD/target/go-cache" GOFLAGS=
work=target/tlog-crosscheck
rm -rf "$work"
mkdir -p "$work"
go build -o "$work/tlogcheck" ./scripts/tlog-go
scripts/build-release -q -p detente
scripts/build-release -q -p detente-tlog --example write_log

gen=testdata/tlog-vectors/detente-generated
gen_vkey=$(grep -o '"log_vkey": "[^"]*"' "$gen/vectors.json" | cut -d'"' -f4)
"$work/tlogcheck" -vkey "$gen_vkey" -dir "$gen/log"

vkey=$(target/release/examples/write_log "$work/site/log" 100003 | tail -1)
"$work/tlogcheck" -vkey "$vkey" -dir "$work/site/log"

# The log file exists before the server starts: the background job opens it only after the
# fork, and the loop below may read first.
: >"$work/http.log"
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$work/site" >"$work/http.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
port=
for _ in $(seq 50); do
  port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$work/http.log" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "http.server did not start" >&2; exit 1; }
url="http://127.0.0.1:$port"
"$work/tlogcheck" -vkey "$vkey" -url "$url"
target/release/detente verify --url "$url" --key "$vkey" --state "$work/state"

printf 'X' | dd of="$work/site/log/tile/0/002" bs=1 seek=77 conv=notrunc 2>/dev/null
if "$work/tlogcheck" -vkey "$vkey" -url "$url"; then
  echo "Go checker accepted a tampered tile" >&2
  exit 1
fi
if target/release/detente verify --url "$url" --state "$work/state"; then
  echo "detente verify accepted a tampered tile" >&2
  exit 1
fi
echo "tlog cross-check: OK"
