// Package interop holds tests that run real third-party SSE clients — the
// npm eventsource package under Node.js and headless Chromium's EventSource —
// against a real `ssehub serve` process, including a restart of the hub that
// forces the clients to reconnect with Last-Event-ID.
//
// The package has no code of its own; see the _test.go files. The tests skip
// when Node.js or Chromium is missing, unless SSEHUB_REQUIRE_INTEROP=1 (set by
// .ci/run), which turns a missing tool into a failure.
package interop
