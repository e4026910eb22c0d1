package auth_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/memory"
)

func TestCreateLookupRevoke(t *testing.T) {
	ctx := context.Background()
	s := auth.NewStore(memory.New(memory.Options{}))
	secret, tok, err := s.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, Topics: []string{"orders.*"}, Label: "dash"})
	if err != nil {
		t.Fatal(err)
	}
	if !auth.WellFormed(secret) || strings.Contains(tok.ID, secret[:16]) {
		t.Fatalf("secret %q id %q", secret, tok.ID)
	}
	got, err := s.Lookup(ctx, secret)
	if err != nil || got.ID != tok.ID || got.Label != "dash" {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	if err := auth.Check(&got, auth.PurposeStream, ssehub.MustFilter("orders.created")); err != nil {
		t.Errorf("in scope: %v", err)
	}
	if err := auth.Check(&got, auth.PurposeStream, ssehub.All()); !errors.Is(err, auth.ErrScope) {
		t.Errorf("wider pattern: %v", err)
	}
	if err := auth.Check(&got, auth.PurposePublish, ssehub.Filter{}); !errors.Is(err, auth.ErrPurpose) {
		t.Errorf("wrong purpose: %v", err)
	}
	for _, bad := range []string{"", "abc", strings.ToUpper(secret), secret + "0", strings.Repeat("g", 64)} {
		if _, err := s.Lookup(ctx, bad); !errors.Is(err, auth.ErrMalformed) {
			t.Errorf("Lookup(%q): %v", bad, err)
		}
	}
	if _, err := s.Lookup(ctx, strings.Repeat("0", 64)); !errors.Is(err, auth.ErrUnknown) {
		t.Errorf("unknown: %v", err)
	}
	if _, err := s.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, secret); !errors.Is(err, auth.ErrRevoked) {
		t.Errorf("revoked: %v", err)
	}
	if _, err := s.Revoke(ctx, "tok_nope"); !errors.Is(err, ssehub.ErrNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
}

func TestExpiry(t *testing.T) {
	ctx := context.Background()
	s := auth.NewStore(memory.New(memory.Options{}))
	secret, _, err := s.Create(ctx, auth.CreateOptions{Purpose: auth.PurposePublish, TTL: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, secret); err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond)
	if _, err := s.Lookup(ctx, secret); !errors.Is(err, auth.ErrExpired) {
		t.Errorf("expired: %v", err)
	}
}

func TestIngestIsPublish(t *testing.T) {
	p, err := auth.ParsePurpose("ingest")
	if err != nil || p != auth.PurposePublish {
		t.Fatalf("%v %v", p, err)
	}
	if !auth.PurposeAdmin.Allows(auth.PurposeStream) || auth.PurposeStream.Allows(auth.PurposePublish) {
		t.Error("Allows")
	}
}

// TestRawTokenNotOnDisk creates tokens in a bolt data dir and checks that
// no file below it contains a secret.
func TestRawTokenNotOnDisk(t *testing.T) {
	dir := t.TempDir()
	l, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := auth.NewStore(l)
	var secrets []string
	for _, p := range []auth.Purpose{auth.PurposeStream, auth.PurposePublish, auth.PurposeAdmin} {
		secret, _, err := s.Create(context.Background(), auth.CreateOptions{Purpose: p})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, secret)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	err = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if strings.Contains(string(b), s) || strings.Contains(string(b), s[:32]) {
				t.Errorf("%s contains a raw token", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func FuzzWellFormed(f *testing.F) {
	f.Add(strings.Repeat("a", 64))
	f.Add("")
	f.Add(strings.Repeat("A", 64))
	f.Fuzz(func(t *testing.T, s string) {
		ok := auth.WellFormed(s)
		want := len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
		if ok != want {
			t.Fatalf("WellFormed(%q) = %v", s, ok)
		}
	})
}

// TestPrune checks that Prune deletes exactly the tokens that expired
// before the cutoff, with their hashes (so a pruned secret does not
// authenticate), and keeps tokens without an expiry, revoked or not.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	kv := memory.New(memory.Options{})
	s := auth.NewStore(kv)
	short, shortTok, _ := s.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, TTL: time.Millisecond})
	long, _, _ := s.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, TTL: time.Hour})
	_, forever, _ := s.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeAdmin})
	if _, err := s.Revoke(ctx, forever.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	n, err := s.Prune(ctx, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("Prune: %d, %v; want 1 token pruned", n, err)
	}
	if _, err := s.Get(ctx, shortTok.ID); !errors.Is(err, ssehub.ErrNotFound) {
		t.Errorf("pruned token still listed: %v", err)
	}
	if _, err := s.Lookup(ctx, short); err == nil {
		t.Error("a pruned token authenticates")
	}
	if _, err := s.Lookup(ctx, long); err != nil {
		t.Errorf("unexpired token: %v", err)
	}
	ts, _ := s.List(ctx)
	if len(ts) != 2 {
		t.Errorf("after pruning %d tokens are left, want 2 (the unexpired one and the revoked one without expiry)", len(ts))
	}
	hashes := 0
	kv.List(ctx, "token_hashes", func(string, []byte) error { hashes++; return nil })
	if hashes != 2 {
		t.Errorf("%d hashes left, want 2", hashes)
	}
	if n, err := s.Prune(ctx, time.Now()); err != nil || n != 0 {
		t.Errorf("second Prune: %d, %v", n, err)
	}
}
