package ssehub

import "strings"

// SysPrefix starts the topics of the hub's own control events: a
// deregistered topic, a revoked token. They travel through the log like any
// event, so every node applies them in log order, but no client may publish
// them and no pattern, not even "*", matches them. ValidateTopic rejects
// them ('$' is not a topic character).
const SysPrefix = "$sys."

// The system topics.
const (
	// SysDeregister carries a deregistered topic's name as its data.
	SysDeregister = SysPrefix + "deregister"
	// SysRevoke carries a revoked token's id as its data.
	SysRevoke = SysPrefix + "revoke"
)

// IsSys reports whether topic is a system topic.
func IsSys(topic string) bool { return strings.HasPrefix(topic, SysPrefix) }
