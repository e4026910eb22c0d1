// Package nats is the scale-out store: an ssehub.Store on one NATS
// JetStream stream, shared by any number of hub nodes.
//
// Topic t is the subject "<prefix>.t"; system events ($sys.…) are
// "<prefix>.$sys.…", which no pattern selects. The event id is the stream
// sequence, so every node gives an event the same id, and ids are dense.
// The event's fields travel as headers (Ssehub-Type, -Key, -Entity,
// -Source, -Meta, -Time), its data as the message body, unaltered. A keyed
// event carries Nats-Msg-Id (a digest of topic and key): the stream's
// duplicate window is the dedupe window. Several events in one Append are
// one JetStream atomic batch. Each node follows the stream with one
// ordered consumer; catch-up reads are batched direct gets with a subject
// filter per pattern, checked against the stream leader, so reading
// creates no consumer. The hub's KV (tokens, deregistered topics) is a
// JetStream KV bucket beside the stream, read through its leader.
//
// Import it for its driver ("nats"), or call Open; StartServer runs an
// embedded NATS server, so hub processes can form their own JetStream
// cluster. See docs/nats.md.
package nats
