package ssehub_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ssehub/ssehub"
)

func TestDriverRegistry(t *testing.T) {
	var got ssehub.StoreConfig
	ssehub.RegisterDriver(ssehub.Driver{Name: "registry-test", Open: func(_ context.Context, cfg ssehub.StoreConfig) (ssehub.Store, error) {
		got = cfg
		return nil, errors.New("no store here")
	}})
	if _, ok := ssehub.LookupDriver("registry-test"); !ok {
		t.Fatal("registered driver not found")
	}
	found := false
	for _, n := range ssehub.DriverNames() {
		found = found || n == "registry-test"
	}
	if !found {
		t.Fatalf("DriverNames %v", ssehub.DriverNames())
	}
	_, err := ssehub.OpenStore(context.Background(), "registry-test", ssehub.StoreConfig{Path: "p"})
	if err == nil || !strings.HasPrefix(err.Error(), "registry-test: ") || got.Path != "p" || got.Logger == nil {
		t.Fatalf("OpenStore: %v, config %+v (a nil Logger becomes slog.Default)", err, got)
	}
	if _, err := ssehub.OpenStore(context.Background(), "nope", ssehub.StoreConfig{}); err == nil || !strings.Contains(err.Error(), "registry-test") {
		t.Fatalf("unknown driver: %v (should list the available ones)", err)
	}
	for _, d := range []ssehub.Driver{{Name: "registry-test", Open: func(context.Context, ssehub.StoreConfig) (ssehub.Store, error) { return nil, nil }}, {Name: "x"}, {}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RegisterDriver(%q) did not panic", d.Name)
				}
			}()
			ssehub.RegisterDriver(d)
		}()
	}
}

func TestParseStoreName(t *testing.T) {
	for in, want := range map[string][2]string{
		"memory":            {"memory", ""},
		"nats://host:4222":  {"nats", "nats://host:4222"},
		"bolt":              {"bolt", ""},
		"://nothing-before": {"://nothing-before", ""},
	} {
		if d, u := ssehub.ParseStoreName(in); d != want[0] || u != want[1] {
			t.Errorf("ParseStoreName(%q) = %q, %q; want %q, %q", in, d, u, want[0], want[1])
		}
	}
}

// TestDriverHint checks that a driver this build does not link fails with
// the hint its package left, and that a registered driver is unaffected.
func TestDriverHint(t *testing.T) {
	ssehub.HintDriver("hinted-test", "build with -tags hinted")
	_, err := ssehub.OpenStore(context.Background(), "hinted-test", ssehub.StoreConfig{})
	if err == nil || !strings.HasSuffix(err.Error(), "; build with -tags hinted") || !strings.Contains(err.Error(), "not available in this build") {
		t.Errorf("hinted driver: %v", err)
	}
	if err := ssehub.UnknownDriverError("unhinted-test"); strings.Contains(err.Error(), ";") {
		t.Errorf("a driver without a hint: %v", err)
	}
}
