package httpapi

import (
	"fmt"
	"strings"

	"github.com/ssehub/ssehub"
)

// SplitPatterns returns the patterns of query values, each of which may be
// a comma-separated list.
func SplitPatterns(values []string) []string { return splitPatterns(values, -1) }

// splitPatterns is SplitPatterns stopping after max patterns (none when
// max < 0), so that a list of half a million costs no more than max+1.
func splitPatterns(values []string, max int) []string {
	var raw []string
	for _, v := range values {
		for v != "" {
			p, rest, _ := strings.Cut(v, ",")
			v = rest
			if p = strings.TrimSpace(p); p != "" {
				if max >= 0 && len(raw) == max {
					return append(raw, p)
				}
				raw = append(raw, p)
			}
		}
	}
	return raw
}

// ParseQueryFilter is ParseFilter for the values of a query parameter
// (?topic=, ?event_type=), each a pattern or a comma-separated list; a
// list past limits.max_topics is refused without being split further.
// It returns the filter and how many patterns the values held: none is an
// empty filter and no error.
func (s *Server) ParseQueryFilter(values []string) (ssehub.Filter, int, error) {
	max := -1
	if s.limits.MaxTopics > 0 {
		max = s.limits.MaxTopics
	}
	raw := splitPatterns(values, max)
	if len(raw) == 0 {
		return ssehub.Filter{}, 0, nil
	}
	if max >= 0 && len(raw) > max {
		return ssehub.Filter{}, len(raw), fmt.Errorf("at most %d topic patterns per request (limits.max_topics), got more", max)
	}
	f, err := s.ParseFilter(raw)
	return f, len(raw), err
}

// ParseFilter parses patterns a client sent, within the limits on their
// number (limits.max_topics) and length (limits.max_topic_len), before any
// is parsed, so a huge list costs nothing.
func (s *Server) ParseFilter(raw []string) (ssehub.Filter, error) {
	l := s.limits.Limits
	if l.MaxTopics > 0 && len(raw) > l.MaxTopics {
		return ssehub.Filter{}, fmt.Errorf("at most %d topic patterns per request (limits.max_topics), got %d", l.MaxTopics, len(raw))
	}
	for _, p := range raw {
		if err := s.CheckTopicLen(p); err != nil {
			return ssehub.Filter{}, err
		}
	}
	return ssehub.ParseFilter(raw...)
}

// CheckTopicLen checks a topic or pattern against limits.max_topic_len.
func (s *Server) CheckTopicLen(t string) error {
	if n := s.limits.MaxTopicLen; n > 0 && len(t) > n {
		return fmt.Errorf("%.40q… is longer than the limit of %d bytes (limits.max_topic_len)", t, n)
	}
	return nil
}
