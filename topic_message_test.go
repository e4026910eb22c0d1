package ssehub_test

import (
	"strings"
	"testing"

	"github.com/ssehub/ssehub"
)

// TestTopicErrorNamesTheCharacter guards a defect found by an adversarial pass
// (Unicode lookalikes against token scopes): a topic holding a character
// outside ASCII was refused with a message naming its first byte as a
// character ("orders.ｘ" contains 'ï'), which sends a client looking for
// the wrong thing. The message names the character itself, and a byte
// that is not UTF-8 as a byte.
func TestTopicErrorNamesTheCharacter(t *testing.T) {
	for topic, want := range map[string]string{
		"orders.ｘ":    `'ｘ'`,
		"ｏrders":      `'ｏ'`,
		"a.\u202eb":   `'\u202e'`,
		"a b":         `' '`,
		"bad\xffutf8": `'\xff'`,
	} {
		err := ssehub.ValidateTopic(topic)
		if err == nil || !strings.Contains(err.Error(), "contains "+want) {
			t.Errorf("ValidateTopic(%q) = %v, want it to name %s", topic, err, want)
		}
	}
}
