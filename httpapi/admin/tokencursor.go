package admin

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub/auth"
)

// tokenCursor is where a page of GET /api/tokens ends: the creation time
// and id of its last token, in the order tokens are listed (oldest first,
// then by id). Written as "UNIXNANO.ID"; clients treat it as opaque. A
// cursor stays valid when its token is revoked, pruned or deleted.
type tokenCursor struct {
	created time.Time
	id      string
}

// String encodes c for the next field and the after parameter.
func (c tokenCursor) String() string {
	return strconv.FormatInt(c.created.UnixNano(), 10) + "." + c.id
}

// before reports whether t comes after the cursor in listing order; the
// zero cursor is before every token.
func (c tokenCursor) before(t *auth.Token) bool {
	if c.id == "" {
		return true
	}
	if !t.CreatedAt.Equal(c.created) {
		return t.CreatedAt.After(c.created)
	}
	return t.ID > c.id
}

// parseTokenCursor decodes an after parameter; empty is the start.
func parseTokenCursor(s string) (tokenCursor, error) {
	if s == "" {
		return tokenCursor{}, nil
	}
	ns, id, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || id == "" || len(id) > 64 {
		return tokenCursor{}, errors.New("after must be the next value of an earlier page")
	}
	return tokenCursor{created: time.Unix(0, n), id: id}, nil
}
