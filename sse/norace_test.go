//go:build !race

package sse

// raceEnabled tells allocation tests that the race detector adds allocations.
const raceEnabled = false
