package mercure

import (
	"sync"
	"testing"
)

// TestParsedBaseConcurrent: the cached hub URL is never changed by the
// parses that use it (a relative reference shortens its base's path in
// place), under concurrent use with two bases in turn.
func TestParsedBaseConcurrent(t *testing.T) {
	bases := []string{"https://a.example/.well-known/mercure", "http://b.example:8080/hub/.well-known/mercure"}
	for range 3 { // the same base again and again: the cached one
		if got := parseURL("../y", bases[0]).Href(false); got != "https://a.example/y" {
			t.Fatalf("../y: %q", got)
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				base := bases[(g+i)%2]
				if !reserved(`.\mercure\subscriptions\x`, base) {
					t.Errorf("a relative subscriptions topic against %s: not reserved", base)
					return
				}
				if reserved("../../x", base) {
					t.Errorf("../../x against %s: reserved", base)
					return
				}
				if got := parseURL("../y", base).Href(false); got != map[string]string{bases[0]: "https://a.example/y", bases[1]: "http://b.example:8080/hub/y"}[base] {
					t.Errorf("../y against %s: %q", base, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}
