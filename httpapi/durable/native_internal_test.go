package durable

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/config"
	"github.com/ssehub/ssehub/httpapi/mercure"
)

// TestReservedTokensAreTheProtocols: the prefixes a view may never expose
// are this package's and Mercure's own, as those packages define them.
func TestReservedTokensAreTheProtocols(t *testing.T) {
	for _, prefix := range []string{TopicPrefix + ".", mercure.PublicPrefix, mercure.PrivatePrefix} {
		if !reservedTopic(prefix + "x") {
			t.Errorf("%sx is not reserved", prefix)
		}
	}
}

// TestNativeChecksAgree: the configuration refuses exactly the patterns
// and paths Register would, so a file that loads starts a hub.
func TestNativeChecksAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	for _, p := range []string{"*", "ds.*", "ds", "ds.a", "mercure", "mercure.*", "mercure_private.*", "mercure_private.a",
		"dsx.*", "ds_x", "mercure-private.*", "orders.*", "orders", "a.b.c", "a..b", "a.*.b", "a b", "x*"} {
		yaml := "durable_streams:\n  native_topics: ['" + p + "']\n"
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, cerr := config.Load(path)
		_, ferr := NativeFilter([]string{p})
		if (cerr == nil) != (ferr == nil) {
			t.Errorf("pattern %q: config says %v, NativeFilter %v", p, cerr, ferr)
		}
	}
	for _, p := range []string{"_topics", "a/b", "a.b", "/a", "a/", "a//b", "..", "a/../b", "a b", "a%2F", strings.Repeat("x", 128), strings.Repeat("x", 129)} {
		yaml := "durable_streams:\n  native_path: '" + p + "'\n"
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, cerr := config.Load(path)
		ferr := ValidateNativePath(p)
		if (cerr == nil) != (ferr == nil) {
			t.Errorf("path %q: config says %v, ValidateNativePath %v", p, cerr, ferr)
		}
	}
}
