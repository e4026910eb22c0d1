#!/bin/sh
# Runs every `ssehub bench` command of docs/bench.md in turn, each against
# hubs it spawns on loopback, and appends each run's command and JSON line
# to OUT (default bench-figures.jsonl). About 8 minutes on 2 cores.
#
#   scripts/bench-figures.sh [OUT]
set -eu
out=${1:-bench-figures.jsonl}
# A private binary unless SSEHUB_BIN names one: /tmp/ssehub may be another
# checkout's build.
bin=${SSEHUB_BIN:-}
if [ -z "$bin" ]; then
	dir=$(mktemp -d)
	trap 'rm -rf "$dir"' EXIT
	bin=$dir/ssehub
	go build -o "$bin" ./cmd/ssehub
fi
ulimit -n 20000 2>/dev/null || echo "warning: ulimit -n 20000 failed; large runs may run out of files" >&2

run() {
	echo "== ssehub bench $*" >&2
	printf '{"command":"ssehub bench %s","load":"%s"}\n' "$*" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"
	"$bin" bench "$@" --spawn 2>/dev/null | tail -n 1 >>"$out"
}

# The scenarios of the core and feature issues.
run topics
run topics --rate 5000
run topics --topics 100000 --subscribers 5000 --topics-per-sub 20
for spec in "1000 1" "10000 10" "32000 32"; do
	set -- $spec
	run topics --topics "$1" --topics-per-sub "$2"
done
run topics --duration 6s
run topics --duration 6s --store memory
run topics --duration 6s --topics 1 --topics-per-sub 1 --subscribers 1
run sparse --events 1000000 --sparse-every 1000
run sparse --events 5000000 --sparse-every 5000 --rounds 7
run sparse --events 5000000 --sparse-every 500 --rounds 7
run arrow-ingest
run arrow-fanout
run arrow-fanout --rate 20
run pull --batch 10 --events 20000
run pull --batch 100 --events 100000
run pull --batch 1000 --events 500000
run nats --subscribers 2000 --publishers 16
run nats --subscribers 2000 --publishers 4
run nats --subscribers 1000 --publishers 4 --rate 100
run fanout --subscribers 2000 --publishers 16 --duration 10s
run publish --nats-nodes 3 --publishers 32 --duration 6s
run publish --publishers 32 --duration 6s
run publish --nats-nodes 3 --publishers 4 --batch 1000 --duration 6s
run publish --publishers 4 --batch 1000 --duration 6s
run fanout --nats-nodes 3 --subscribers 2000 --publishers 16 --duration 10s

# The hub end to end (docs/benchmarks.md).
run fanout --subscribers 2000 --publishers 4 --duration 10s
run fanout --store memory --subscribers 2000 --publishers 4 --duration 10s
run fanout --subscribers 1000 --publishers 4 --rate 100 --duration 10s
run publish --store memory --publishers 32 --duration 6s
run replay --events 1000000 --publishers 4
for n in 1000 5000 10000 19000; do
	run idle --conns "$n"
done
run idle --h2c --conns 1000
run idle --h2c --conns 5000 --per-conn 100
echo "wrote $out" >&2
