package httpapi_test

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestTokenLabelsMustBePrintable guards a defect found by an adversarial pass:
// POST /api/tokens took any label, terminal escapes, newlines and
// bidirectional overrides included, and `ssehub token list` then printed
// them raw into the operator's terminal (a scoped admin token's holder
// could clear the screen or forge a row of the table). Such a label is a
// 400 BAD_FIELD that names the character, never a token; a printable one
// of any script is kept as given.
func TestTokenLabelsMustBePrintable(t *testing.T) {
	th := newMemoryHub(t)
	scoped, _ := th.createToken(`{"purpose":"admin","topics":["orders.*"]}`)
	for _, l := range []string{"a\x1b[2Jb", "line\ntok_0 admin * active", "tab\tx", "\u202eevil", "nul\x00", "c1\u009bx"} {
		b, _ := json.Marshal(map[string]any{"purpose": "stream", "topics": []string{"orders.*"}, "label": l})
		for _, tok := range []string{adminToken, scoped} {
			resp, body := send(t, th.newRequest("POST", "/api/tokens", tok, string(b), "Content-Type", "application/json"))
			wantError(t, fmt.Sprintf("label %q", l), resp, body, 400, "BAD_FIELD")
		}
	}
	// Bytes that are not UTF-8 never reach the handler as such (JSON
	// decoding makes them U+FFFD), and U+FFFD is printable: kept.
	resp, body := th.do("POST", "/api/tokens", "application/json", `{"purpose":"stream","label":"Überwachung 監視 🚀 <b>&amp;"}`)
	var out struct{ Label string }
	if resp.StatusCode != 201 || json.Unmarshal(body, &out) != nil || out.Label != "Überwachung 監視 🚀 <b>&amp;" {
		t.Errorf("printable label: %d %s", resp.StatusCode, body)
	}
}
