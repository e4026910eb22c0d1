// Vitest configuration that runs the conformance suite with its
// subscription tests on (subscriptions.conformance.mjs) against the server
// at CONFORMANCE_TEST_URL; driven by interop/durable_subscriptions_test.go.
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["subscriptions.conformance.mjs"],
    exclude: [],
    testTimeout: 30000,
    hookTimeout: 30000,
  },
})
