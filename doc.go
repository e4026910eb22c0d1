// Package ssehub holds the domain of the ssehub Server-Sent Events hub: the
// [Event] that publishers append, the [Pattern] that subscribers select topics
// with, and the [Log] interface every store implements.
//
// Stores live in their own packages (bolt, memory, nats); the fan-out that
// streams a log to subscribers lives in package hub; HTTP handlers in package
// httpapi; the wire format in package sse.
package ssehub
