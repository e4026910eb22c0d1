package mercure

import (
	"errors"
	"unicode"
	"unicode/utf8"
)

var (
	errNotUTF8  = errors.New("is not valid UTF-8")
	errControl  = errors.New("contains a control character")
	errFormatCh = errors.New("contains a Unicode format character")
)

// checkText applies the constraint the Mercure specification puts on topics,
// matchers, ids and types: valid UTF-8 without C0 or C1 controls, U+007F,
// or format characters (general category Cf).
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errNotUTF8
	}
	for _, r := range s {
		switch {
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
			return errControl
		case unicode.Is(unicode.Cf, r):
			return errFormatCh
		}
	}
	return nil
}
