package pebble

import (
	"fmt"
	"os"
)

// SSEHUB_PEBBLE_DEPTH sets pipelineDepth for a benchmark run, to compare
// depths with one test binary.
func init() {
	if v := os.Getenv("SSEHUB_PEBBLE_DEPTH"); v != "" {
		if _, err := fmt.Sscan(v, &pipelineDepth); err != nil || pipelineDepth < 1 || pipelineDepth > maxInFlight {
			panic("SSEHUB_PEBBLE_DEPTH: 1 to " + fmt.Sprint(maxInFlight))
		}
	}
}
