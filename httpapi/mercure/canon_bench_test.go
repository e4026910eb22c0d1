package mercure

import (
	"testing"

	"github.com/ssehub/ssehub"
)

// BenchmarkReserved is the reserved-namespace check every published topic
// takes: Go's URL parser, then the WHATWG one URL patterns use.
func BenchmarkReserved(b *testing.B) {
	const base = "https://hub.example.com/.well-known/mercure"
	for range b.N {
		if reserved("https://example.com/books/1", base) {
			b.Fatal("reserved")
		}
	}
}

// BenchmarkNativeTopicOf is the native IRI check of a published topic
// under the native prefix (the slowest case: it parses both).
func BenchmarkNativeTopicOf(b *testing.B) {
	f := &Feature{opts: Options{NativeIRIPrefix: "https://example.com/topics/"}}
	f.native = ssehub.MustFilter("orders.*")
	const base = "https://hub.example.com/.well-known/mercure"
	for range b.N {
		if _, ok := f.nativeTopicOf("https://example.com/topics/billing.paid", base); ok {
			b.Fatal("native")
		}
	}
}
