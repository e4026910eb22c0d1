//go:build !race

package interop_test

// raceEnabled is false: the tests run without -race, so the hub is built
// without it as well.
const raceEnabled = false
