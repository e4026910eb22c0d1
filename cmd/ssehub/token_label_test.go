package main

import (
	"context"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/bolt"
)

// TestTokenListEscapesLabels guards a defect found by an adversarial pass:
// `ssehub token list` printed labels raw, so a label holding terminal
// escapes or a newline acted on the operator's terminal (cleared it,
// forged a row of the table). The API and the store now refuse such
// labels; a record written before that is listed with them escaped, and
// `token create --label` refuses them.
func TestTokenListEscapesLabels(t *testing.T) {
	dir := t.TempDir()
	l, err := bolt.Open(dir, bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := `{"id":"tok_00000000000000aa","hash":"` + strings.Repeat("ab", 32) + `","purpose":"stream","topics":["a.*"],` +
		`"label":"x\u001b[2J\u001b]0;pwned\u0007\ntok_forged  admin  *\u202e","created_at":"2026-01-01T00:00:00Z"}`
	if err := l.Put(context.Background(), "tokens", "tok_00000000000000aa", []byte(rec)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	code, out, errOut := runCmd(t, "token", "list", "--data", dir)
	if code != 0 {
		t.Fatalf("list: %d %s", code, errOut)
	}
	if strings.ContainsAny(out, "\x1b\x07\u202e") || strings.Count(out, "\n") != 2 || strings.Contains(out, "\ntok_forged") {
		t.Errorf("list printed the label raw: %q", out)
	}
	if !strings.Contains(out, `\x1b[2J`) || !strings.Contains(out, `\u202e`) {
		t.Errorf("list does not show the escaped label: %q", out)
	}
	code, _, errOut = runCmd(t, "token", "create", "--purpose", "stream", "--label", "a\x1b[2J", "--data", dir)
	if code == 0 || !strings.Contains(errOut, "label") {
		t.Errorf("create with an escape in its label: %d %q", code, errOut)
	}
}
