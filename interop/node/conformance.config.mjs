// Vitest configuration that runs the Durable Streams server conformance
// suite (the pinned npm package @durable-streams/server-conformance-tests)
// against the server at CONFORMANCE_TEST_URL; driven by
// interop/durable_test.go. The package's own CLI cannot find its runner
// file (vitest excludes node_modules), hence this file.
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["node_modules/@durable-streams/server-conformance-tests/dist/test-runner.js"],
    exclude: [],
    testTimeout: 30000,
    hookTimeout: 30000,
  },
})
