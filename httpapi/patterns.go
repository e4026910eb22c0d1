package httpapi

import (
	"fmt"
	"strings"

	"github.com/ssehub/ssehub"
)

// SplitPatterns returns the patterns of query values, each of which may be
// a comma-separated list.
func SplitPatterns(values []string) []string {
	var raw []string
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				raw = append(raw, p)
			}
		}
	}
	return raw
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
