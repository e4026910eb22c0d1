package arrow

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/ssehub/ssehub/memory"
)

// TestCachesBoundBytes: schemas with 128 KiB of metadata each (what one
// ingest body can carry) do not grow the registry's schema cache or the
// format's frame cache past maxCacheBytes: a count bound alone let 4096 of
// them hold over a gigabyte.
func TestCachesBoundBytes(t *testing.T) {
	reg := NewRegistry(memory.New(memory.Options{}), nil)
	var fc frameCache
	big := strings.Repeat("m", 120<<10)
	n := maxCacheBytes/(120<<10) + 40
	for i := range n {
		md := arrow.NewMetadata([]string{"k"}, []string{fmt.Sprintf("%d%s", i, big)})
		s, err := NewSchema(arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, &md))
		if err != nil {
			t.Fatal(err)
		}
		reg.remember(s)
		if fc.get("t", s.Fingerprint, func() (*Schema, error) { return s, nil }) == nil {
			t.Fatal("no frame")
		}
	}
	var regBytes, fcBytes int
	for _, s := range reg.schemas {
		regBytes += len(s.IPC)
	}
	for _, f := range fc.m {
		fcBytes += len(f)
	}
	if regBytes > maxCacheBytes || fcBytes > maxCacheBytes {
		t.Fatalf("after %d schemas of 120 KiB: the registry caches %d bytes, the frames %d; the bound is %d", n, regBytes, fcBytes, maxCacheBytes)
	}
}
