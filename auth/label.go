package auth

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// ErrLabel is wrapped by the error of a label that is not printable text.
var ErrLabel = errors.New("invalid token label")

// ValidateLabel reports whether s may be a token's label: valid UTF-8
// without control characters (tabs and newlines included), line or
// paragraph separators, bidirectional controls or invisible format
// characters (the zero-width joiner of emoji sequences aside). Labels are
// shown to the operator, by `ssehub token list` in a terminal among
// others, where such characters would act (clear the screen, forge a row
// of the table, make text read other than it is) instead of being read.
func ValidateLabel(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: not valid UTF-8", ErrLabel)
	}
	for _, r := range s {
		if !labelRune(r) {
			return fmt.Errorf("%w: it holds %U, which is not printable (a control, separator or invisible character)", ErrLabel, r)
		}
	}
	return nil
}

// labelRune reports whether r may be part of a label.
func labelRune(r rune) bool {
	switch {
	case r == '\u200d': // zero-width joiner: emoji sequences
		return true
	case unicode.Is(unicode.Cc, r), unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r),
		unicode.Is(unicode.Bidi_Control, r), unicode.Is(unicode.Cf, r):
		return false
	}
	return true
}
