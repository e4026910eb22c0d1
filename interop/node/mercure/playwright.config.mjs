// Playwright configuration for the Mercure conformance runs driven by
// interop/mercure_test.go: Debian's Chromium (no browser download), one
// worker, the hub's URL from BASE_URL, and the tests of MERCURE_SPEC_DIR
// (ssehub's own checks in this folder, or the reference hub's suite).
const chromiumArgs = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

export default {
  testDir: process.env.MERCURE_SPEC_DIR,
  testMatch: /.*\.spec\.(ts|mjs)$/,
  timeout: 15_000,
  expect: { timeout: 5_000 },
  retries: 0,
  workers: 1,
  forbidOnly: true,
  reporter: [["list"], ["json", { outputFile: process.env.MERCURE_REPORT }]],
  outputDir: process.env.MERCURE_OUT,
  use: {
    baseURL: process.env.BASE_URL,
    browserName: "chromium",
    ignoreHTTPSErrors: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      args: chromiumArgs,
    },
  },
};
