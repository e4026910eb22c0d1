package auth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/memory"
)

// TestLabelsArePrintable: a label is shown to the operator by `ssehub
// token list` in a terminal and by the console. One holding terminal
// escapes (clear the screen, retitle the window), a newline (a forged row
// of the token table), a bidirectional override (text that reads other
// than it is) or bytes that are not UTF-8 would act on the operator's
// screen instead of being read: a scoped admin token's holder could plant
// one. They are refused; everything printable, any script included, is
// kept as given.
func TestLabelsArePrintable(t *testing.T) {
	ctx := context.Background()
	s := auth.NewStore(memory.New(memory.Options{}))
	for _, bad := range []string{"a\x1b[2Jb", "\x1b]0;pwned\x07", "line\ntok_0000 admin * x", "cr\rx", "tab\tx", "nul\x00",
		"del\x7f", "c1\u009b31m", "\u202eevil", "iso\u2066x", "zw\u200bx", "bad\xffutf8", "ls\u2028x"} {
		if err := auth.ValidateLabel(bad); !errors.Is(err, auth.ErrLabel) {
			t.Errorf("ValidateLabel(%q) = %v, want ErrLabel", bad, err)
		}
		if _, _, err := s.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, Label: bad}); !errors.Is(err, auth.ErrLabel) {
			t.Errorf("Create with label %q: %v, want ErrLabel", bad, err)
		}
	}
	for _, good := range []string{"", "dashboard", "ci / nightly #3", "Überwachung", "監視", "émoji 🚀", "a\"b'c<d>&"} {
		if err := auth.ValidateLabel(good); err != nil {
			t.Errorf("ValidateLabel(%q): %v", good, err)
		}
		_, tok, err := s.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, Label: good})
		if err != nil || tok.Label != good {
			t.Errorf("Create with label %q: %q %v", good, tok.Label, err)
		}
	}
}
