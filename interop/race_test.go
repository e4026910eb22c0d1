//go:build race

package interop_test

// raceEnabled makes TestMain build the hub with the race detector too, so a
// data race inside the hub process fails these tests.
const raceEnabled = true
