// The Durable Streams server conformance suite (the pinned npm package
// @durable-streams/server-conformance-tests) with its subscription tests
// (protocol sections 6–7) switched on, as the protocol's own harness runs
// them; driven by interop/durable_subscriptions_test.go through
// conformance-subscriptions.config.mjs.
import { runConformanceTests } from "@durable-streams/server-conformance-tests"

runConformanceTests({ baseUrl: process.env.CONFORMANCE_TEST_URL, subscriptions: true, longPollTimeoutMs: 500 })
