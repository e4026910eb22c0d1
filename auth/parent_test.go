package auth_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/memory"
)

// TestRevokingAMinterRevokesWhatItMinted: a token minted by a scoped
// admin token is bounded by it in revocation as in expiry. Revoking a
// compromised admin token must also stop what it minted (and what those
// minted); before, the minted tokens kept working. A token minted while
// its minter was being revoked is caught at lookup.
func TestRevokingAMinterRevokesWhatItMinted(t *testing.T) {
	ctx := context.Background()
	kv := memory.New(memory.Options{})
	s := auth.NewStore(kv)
	mk := func(purpose auth.Purpose, parent string) (string, auth.Token) {
		t.Helper()
		secret, tok, err := s.Create(ctx, auth.CreateOptions{Purpose: purpose, Topics: []string{"orders.*"}, Parent: parent})
		if err != nil {
			t.Fatal(err)
		}
		return secret, tok
	}
	_, admin := mk(auth.PurposeAdmin, "")
	_, sub := mk(auth.PurposeAdmin, admin.ID)
	childSecret, child := mk(auth.PurposePublish, admin.ID)
	grandSecret, grand := mk(auth.PurposeStream, sub.ID)
	otherSecret, _ := mk(auth.PurposeStream, "")
	if child.Parent != admin.ID || child.Info().Parent != admin.ID {
		t.Fatalf("the minted token does not name its minter: %+v", child)
	}

	_, gone, err := s.RevokeTree(ctx, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(gone)
	want := []string{admin.ID, sub.ID, child.ID, grand.ID}
	slices.Sort(want)
	if !slices.Equal(gone, want) {
		t.Fatalf("revoked %v, want %v", gone, want)
	}
	for _, secret := range []string{childSecret, grandSecret} {
		if _, err := s.Lookup(ctx, secret); !errors.Is(err, auth.ErrRevoked) {
			t.Errorf("a token minted under the revoked one: %v, want ErrRevoked", err)
		}
	}
	if _, err := s.Lookup(ctx, otherSecret); err != nil {
		t.Errorf("an unrelated token: %v", err)
	}

	// Minted in the race with the revocation: the record names a minter
	// that is revoked already.
	late, _ := mk(auth.PurposePublish, sub.ID)
	if _, err := s.Lookup(ctx, late); !errors.Is(err, auth.ErrRevoked) {
		t.Errorf("a token whose minter is revoked: %v, want ErrRevoked", err)
	}
	// A minter that is gone (pruned, or a corrupt store) vouches for nothing;
	// nor can a token be minted under one.
	_, lost := mk(auth.PurposeAdmin, "")
	orphan, _ := mk(auth.PurposePublish, lost.ID)
	if err := kv.Delete(ctx, "tokens", lost.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, orphan); !errors.Is(err, auth.ErrRevoked) {
		t.Errorf("a token whose minter is gone: %v, want ErrRevoked", err)
	}
	if _, _, err := s.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, Parent: lost.ID}); err == nil {
		t.Error("a token was minted under a minter that is gone")
	}
	// Chains are bounded: Lookup walks them on every request.
	parent := ""
	var err2 error
	for range 20 {
		var tok auth.Token
		if _, tok, err2 = s.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeAdmin, Parent: parent}); err2 != nil {
			break
		}
		parent = tok.ID
	}
	if !errors.Is(err2, auth.ErrTooDeep) {
		t.Errorf("20 nested mints: %v, want ErrTooDeep", err2)
	}
	// Revoke keeps its answer: the token it was asked for.
	_, top := mk(auth.PurposeAdmin, "")
	_, kid := mk(auth.PurposeStream, top.ID)
	got, err := s.Revoke(ctx, top.ID)
	if err != nil || got.ID != top.ID || got.RevokedAt.IsZero() {
		t.Fatalf("Revoke: %+v %v", got, err)
	}
	if k, _ := s.Get(ctx, kid.ID); k.RevokedAt.IsZero() {
		t.Error("Revoke left a minted token working")
	}
}
