package nats

import (
	"net/url"
	"strings"
)

// shownURL is a servers' URL (or comma-separated list) as the store shows
// it in its description, logs and errors: a password or a token in a URL
// (nats://user:password@host, nats://token@host) is replaced, the user
// name and the host are kept.
func shownURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			if strings.Contains(p, "@") {
				parts[i] = "REDACTED"
			}
			continue
		}
		if u.User == nil {
			continue
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
		} else {
			u.User = url.User("REDACTED") // nats://token@host: the name is the token
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
