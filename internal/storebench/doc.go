// Package storebench holds benchmarks only: the durable stores (bolt,
// pebble) and the memory store side by side, as sub-benchmarks of one run,
// so that benchstat compares them on the same machine at the same moment:
//
//	go test -run '^$' -bench . -count 6 ./internal/storebench/ | benchstat -col /store -
package storebench
