package stream

import "testing"

// TestHeartbeatStyles: each style's bytes; "empty" is BoilStream's
// heartbeat, a named event with empty data.
func TestHeartbeatStyles(t *testing.T) {
	for style, want := range map[string]string{
		"event":   "event: heartbeat\ndata: ping\n\n",
		"empty":   "event: heartbeat\ndata:\n\n",
		"comment": ":keepalive\n\n",
	} {
		if got := string(heartbeatBytes(&Endpoint{HeartbeatStyle: style})); got != want {
			t.Errorf("%s: %q, want %q", style, got, want)
		}
	}
}
