#!/bin/sh
# Compares ssehub with the reference Mercure hub, with one tool at one size:
# `ssehub bench fanout` against (1) ssehub's own /events, (2) ssehub's
# Mercure surface (--protocol mercure) and (3) the reference hub
# (github.com/dunglas/mercure), in ROUNDS interleaved rounds, each run on a
# fresh hub (a new process on a new data dir), the order rotating from
# round to round. Prints each run and then the medians, and appends every
# JSON line to OUT (default bench-mercure.jsonl). Needs go, jq, curl and
# python3 (a free port). docs/bench.md tells more.
#
#   scripts/bench-mercure.sh [OUT]
#
# Environment (defaults in brackets):
#   ROUNDS [5]  SUBSCRIBERS [1000]  RATE [100]  PUBLISHERS [4]
#   DURATION [10s]  PAYLOAD [64]
#   STORE [bolt]   bolt: ssehub's bolt log (an fsync per group commit) and
#                  the reference hub's bolt transport (an fsync per update);
#                  memory: ssehub's memory store and the reference hub's
#                  local transport (no history)
#   SSEHUB_BIN     an ssehub binary [built from this checkout]
#   MERCURE_BIN    a reference hub binary [built: see below]
#   MERCURE_VERSION [v0.21.0]
#
# The reference hub is built outside this module, in a temporary dir, from
# the Go module proxy: github.com/dunglas/mercure at MERCURE_VERSION, its
# own standalone server (build tags deprecated_server and
# deprecated_transport; the Caddy module github.com/dunglas/mercure/caddy,
# which the project now recommends, wraps the same mercure.Hub handler, but
# the module proxy here does not serve it). It runs on loopback with the
# reference hub's dev key !ChangeThisMercureHubJWTSecretKey!, which the
# bench signs its JWTs with. Nothing of it enters ssehub's go.mod.
set -eu
out=${1:-bench-mercure.jsonl}
rounds=${ROUNDS:-5}
subs=${SUBSCRIBERS:-1000}
rate=${RATE:-100}
pubs=${PUBLISHERS:-4}
duration=${DURATION:-10s}
payload=${PAYLOAD:-64}
store=${STORE:-bolt}
version=${MERCURE_VERSION:-v0.21.0}
key='!ChangeThisMercureHubJWTSecretKey!'
case $store in
bolt | memory) ;;
*) echo "STORE=$store: want bolt or memory" >&2; exit 2 ;;
esac

: >>"$out"
work=$(mktemp -d)
mpid=
cleanup() {
	if [ -n "$mpid" ]; then kill "$mpid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin=${SSEHUB_BIN:-}
if [ -z "$bin" ]; then
	bin=$work/ssehub
	go build -o "$bin" ./cmd/ssehub
fi
mbin=${MERCURE_BIN:-}
if [ -z "$mbin" ]; then
	echo "building the reference Mercure hub $version (Go module proxy) in $work/mercure-ref" >&2
	mkdir "$work/mercure-ref"
	cat >"$work/mercure-ref/main.go" <<'EOF'
// Command mercure-ref runs the reference Mercure hub's standalone server.
package main

import "github.com/dunglas/mercure/cmd"

func main() { cmd.Execute() }
EOF
	printf 'module mercure-ref\n\ngo 1.25.0\n' >"$work/mercure-ref/go.mod"
	(cd "$work/mercure-ref" &&
		GOFLAGS=-mod=mod go get "github.com/dunglas/mercure@$version" &&
		GOFLAGS=-mod=mod go build -tags deprecated_server,deprecated_transport -o mercure .)
	mbin=$work/mercure-ref/mercure
fi
ulimit -n 20000 2>/dev/null || echo "warning: ulimit -n 20000 failed; large runs may run out of files" >&2

run_id=$(date -u +%Y%m%dT%H%M%SZ)
size="--subscribers $subs --rate $rate --publishers $pubs --duration $duration --payload $payload"
sstore=
[ "$store" = memory ] && sstore="--store memory"

# record TARGET: the JSON line on stdin, tagged with the target and round.
record() {
	line=$(tail -n 1)
	case $line in
	'{"scenario"'*) ;;
	*) echo "$1: no result" >&2; return 0 ;;
	esac
	echo "$line" | jq -c --arg t "$1" --argjson r "$round" --arg run "$run_id" --arg load "$(cut -d' ' -f1 /proc/loadavg)" \
		'{run: $run, target: $t, round: $r, load: $load} + .' >>"$out"
	echo "$line" | jq -r --arg t "$1" --argjson r "$round" \
		'"round \($r) \($t): p50 \(.figures.latency_p50_ms) ms, p99 \(.figures.latency_p99_ms) ms, \(.figures.deliveries_per_s | floor) deliveries/s, lost \(.figures.lost), hub CPU \(.figures.hub_cpu_percent // 0 | floor) %"' >&2
}

run_events() {
	# shellcheck disable=SC2086
	"$bin" bench fanout --spawn $sstore $size 2>/dev/null | record ssehub-events
}
run_mercure_ssehub() {
	# shellcheck disable=SC2086
	"$bin" bench fanout --spawn $sstore --protocol mercure $size 2>/dev/null | record ssehub-mercure
}
run_mercure_ref() {
	dir=$(mktemp -d "$work/ref.XXXXXX")
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	transport="bolt://$dir/mercure.db"
	[ "$store" = memory ] && transport="local://local"
	"$mbin" --addr "127.0.0.1:$port" --jwt-key "$key" --transport-url "$transport" \
		--write-timeout 0s >"$dir/log" 2>&1 &
	mpid=$!
	i=0
	until curl -s -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "the reference hub did not start:" >&2
			cat "$dir/log" >&2
			exit 1
		fi
		sleep 0.1
	done
	# shellcheck disable=SC2086
	"$bin" bench fanout --protocol mercure --server "http://127.0.0.1:$port" --mercure-key "$key" \
		--pid "$mpid" $size 2>/dev/null | record mercure-reference
	kill "$mpid" && wait "$mpid" 2>/dev/null || true
	mpid=
	rm -rf "$dir"
}

round=1
while [ "$round" -le "$rounds" ]; do
	case $((round % 3)) in
	1) order="run_events run_mercure_ssehub run_mercure_ref" ;;
	2) order="run_mercure_ssehub run_mercure_ref run_events" ;;
	0) order="run_mercure_ref run_events run_mercure_ssehub" ;;
	esac
	for f in $order; do $f; done
	round=$((round + 1))
done

# Medians over this run's rounds (its lines carry run_id), and ssehub's p99
# against a tenth of the reference hub's, round by round.
jq -s -r --arg run "$run_id" '
	def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
	map(select(.run == $run)) as $runs
	| ($runs | group_by(.target) | map({target: .[0].target,
		p50: (map(.figures.latency_p50_ms) | median), p99: (map(.figures.latency_p99_ms) | median),
		dps: (map(.figures.deliveries_per_s) | median), lost: (map(.figures.lost) | add), runs: length})) as $t
	| ($t | map("\(.target): \(.runs) runs, median p50 \(.p50) ms, p99 \(.p99) ms, \(.dps | floor) deliveries/s, lost \(.lost)") | .[]),
	(($runs | group_by(.round) | map(. as $g
		| ($g | map(select(.target == "mercure-reference")) | .[0].figures.latency_p99_ms) as $ref
		| $g | map(select(.target != "mercure-reference") | "round \(.round) \(.target): p99 \(.figures.latency_p99_ms) ms vs reference \($ref) ms → \(if $ref == null then "n/a" elif .figures.latency_p99_ms * 10 <= $ref then "≤ a tenth: yes" else "≤ a tenth: no (\(.figures.latency_p99_ms / $ref * 100 | floor) %)" end)")
		| .[]) | .[]))
' "$out"
