// Package ssehub holds the domain of the ssehub Server-Sent Events hub: the
// [Event] that publishers append, the [Pattern] and [Filter] that select
// topics, the [Store] interfaces every store implements ([Log] with its
// [Position] and [Capabilities], [Topics], [KV]), the registry of storage
// drivers ([RegisterDriver], [OpenStore]), and the reserved system topics
// ([SysPrefix]) that carry control events through the log.
//
// Stores live in their own packages (bolt, memory) and register a driver;
// output formats in package format; the fan-out that streams a store's log
// to subscribers in package hub; the HTTP surface in package httpapi and
// its feature packages; the wire format in package sse.
package ssehub
