// ssehub's own Mercure conformance checks, run in real Chromium against a
// real `ssehub serve` by interop/mercure_test.go. They cover what the
// reference hub's conformance suite checks (publish by form POST, exact and
// URL Pattern matchers, publisher ids as lastEventId, private updates kept
// from anonymous subscribers) and more: private updates through the
// mercureAuthorization cookie, the older topic= URI Templates, the legacy
// mercure claim, and resuming with last_event_id. Written for ssehub; the
// reference suite itself is AGPL and is run from a checkout when
// MERCURE_CONFORMANCE_DIR names one.
import { test, expect } from "@playwright/test";
import { createHmac, randomBytes } from "node:crypto";

const key = process.env.MERCURE_JWT_KEY;
const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

function sign(header, claims) {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${createHmac("sha256", key).update(input).digest("base64url")}`;
}

const detail = (actions, topics) => ({
  type: "https://mercure.rocks/authorization-detail",
  actions,
  topics: topics.map((t) => (typeof t === "string" ? { match: t } : t)),
});

// An RFC 9068 access token as the reference suite's: iss, aud, exp.
function accessToken(details) {
  const now = Math.floor(Date.now() / 1000);
  return sign({ alg: "HS256", typ: "at+jwt" }, {
    iss: "https://localhost", aud: "https://localhost/.well-known/mercure",
    sub: "interop", client_id: "interop", iat: now, exp: now + 600, jti: randomBytes(8).toString("hex"),
    authorization_details: details,
  });
}

const publisher = accessToken([detail(["publish"], ["*"])]);
const rnd = () => randomBytes(12).toString("hex");

test.beforeEach(async ({ page }) => {
  page.on("console", (m) => console.log(m.text()));
  await page.goto("/");
});

// subscribe opens an EventSource on params, waits for it to open, publishes
// form with the token, and reports what arrived within waitMs.
async function roundTrip(page, { params, form, token = publisher, cookie, waitMs = 1500, wantId, withCredentials = false }) {
  return page.evaluate(async ({ params, form, token, cookie, waitMs, wantId, withCredentials }) => {
    if (cookie) document.cookie = `mercureAuthorization=${cookie}; path=/.well-known/mercure`;
    const url = new URL("/.well-known/mercure", location.origin);
    for (const [k, v] of params) url.searchParams.append(k, v);
    const es = new EventSource(url, { withCredentials });
    const got = [];
    await new Promise((resolve, reject) => {
      es.onopen = resolve;
      es.onerror = () => reject(new Error("EventSource failed to open"));
    });
    es.onmessage = (e) => got.push({ type: e.type, id: e.lastEventId, data: e.data });
    es.addEventListener("custom", (e) => got.push({ type: e.type, id: e.lastEventId, data: e.data }));
    const body = new URLSearchParams();
    for (const [k, v] of form) body.append(k, v);
    const resp = await fetch("/.well-known/mercure", { method: "POST", headers: { Authorization: `Bearer ${token}` }, body });
    const id = await resp.text();
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && !got.some((g) => g.id === (wantId ?? id))) await new Promise((r) => setTimeout(r, 50));
    es.close();
    if (cookie) document.cookie = "mercureAuthorization=; path=/.well-known/mercure; max-age=0";
    return { status: resp.status, contentType: resp.headers.get("Content-Type"), id, got };
  }, { params, form, token, cookie, waitMs, wantId, withCredentials });
}

const cases = [
  { name: "exact string", topics: ["plain-" + rnd()], sel: (t) => [["match", t]], received: true },
  { name: "several matchers", topics: ["several-" + rnd()], sel: (t) => [["match", "foo"], ["match", t]], received: true },
  { name: "IRI", topics: [`https://example.net/foo/${rnd()}`], sel: (t) => [["match", t]], received: true },
  { name: "URL pattern", topics: [`https://example.net/books/${rnd()}`], sel: () => [["match_urlpattern", "https://example.net/books/:id"]], received: true },
  { name: "alternate topic", topics: [`https://example.net/a/${rnd()}`, "alt-" + rnd()], sel: (t) => [["match", t[1]]], received: true, all: true },
  { name: "wildcard", topics: ["wild-" + rnd()], sel: () => [["match", "*"]], received: true },
  { name: "topic= URI Template (older clients)", topics: [`https://example.net/tpl/${rnd()}`], sel: () => [["topic", "https://example.net/tpl/{id}"]], received: true },
  { name: "non-matching string", topics: ["nope-" + rnd()], sel: () => [["match", "other"]], received: false },
  { name: "non-matching IRI", topics: ["https://example.net/foo/x"], sel: () => [["match", "https://example.net/foo/y"]], received: false },
  { name: "non-matching URL pattern", topics: [`https://example.net/foo/${rnd()}`], sel: () => [["match_urlpattern", "https://example.net/bar/:v"]], received: false },
  { name: "private, anonymous", topics: ["secret-" + rnd()], sel: (t) => [["match", t]], private: true, received: false },
  { name: "private URL pattern, anonymous", topics: [`https://example.net/p/${rnd()}`], sel: () => [["match_urlpattern", "https://example.net/p/:id"]], private: true, received: false },
];

for (const c of cases) {
  test(`publish and receive: ${c.name}`, async ({ page }) => {
    const id = `id-${rnd()}`;
    const form = c.topics.map((t) => ["topic", t]).concat([["id", id], ["data", `data for\n\n${c.name}`]]);
    if (c.private) form.push(["private", "on"]);
    const r = await roundTrip(page, { params: c.sel(c.all ? c.topics : c.topics[0]), form, wantId: id, waitMs: c.received ? 3000 : 1500 });
    expect(r.status).toBe(200);
    expect(r.contentType).toMatch(/^text\/plain(;|$)/);
    expect(r.id).toBe(id);
    const hit = r.got.find((g) => g.id === id);
    expect(!!hit).toBe(c.received);
    if (c.received) expect(hit.data).toBe(`data for\n\n${c.name}`);
  });
}

test("private update through the mercureAuthorization cookie (access token)", async ({ page }) => {
  const topic = `https://example.net/users/${rnd()}`;
  const sub = accessToken([detail(["subscribe"], [{ match: "https://example.net/users/:id", match_type: "urlpattern" }])]);
  const r = await roundTrip(page, { params: [["match", topic]], form: [["topic", topic], ["private", ""], ["data", "for your eyes"]], cookie: sub, waitMs: 3000 });
  expect(r.status).toBe(200);
  expect(r.id).toMatch(/^#\d+@[A-Za-z0-9]+$/); // a hub-generated id: a fragment with the log id and epoch
  expect(r.got.map((g) => g.data)).toContain("for your eyes");
});

test("private update through the cookie (legacy mercure claim)", async ({ page }) => {
  const topic = `legacy-${rnd()}`;
  const sub = sign({ alg: "HS256", typ: "JWT" }, { mercure: { subscribe: [topic] } });
  const r = await roundTrip(page, { params: [["topic", topic]], form: [["topic", topic], ["private", "on"], ["data", "legacy"], ["type", "custom"]], cookie: sub, waitMs: 3000 });
  expect(r.got).toContainEqual({ type: "custom", id: r.id, data: "legacy" });
});

test("a subscriber resumes with last_event_id", async ({ page }) => {
  const topic = `resume-${rnd()}`;
  const ids = [];
  for (const n of [1, 2, 3]) {
    const resp = await page.request.post("/.well-known/mercure", {
      headers: { Authorization: `Bearer ${publisher}` }, form: { topic, data: `n${n}`, id: `${topic}-${n}` },
    });
    expect(resp.status()).toBe(200);
    ids.push(await resp.text());
  }
  const got = await page.evaluate(async ({ topic, from }) => {
    const url = new URL("/.well-known/mercure", location.origin);
    url.searchParams.set("match", topic);
    url.searchParams.set("last_event_id", from);
    const es = new EventSource(url);
    const got = [];
    es.onmessage = (e) => got.push(e.data);
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && got.length < 2) await new Promise((r) => setTimeout(r, 50));
    es.close();
    return got;
  }, { topic, from: ids[0] });
  expect(got).toEqual(["n2", "n3"]);
});

test("a bad publish gets the protocol's status", async ({ page }) => {
  const post = (form, token = publisher) => page.request.post("/.well-known/mercure", { headers: { Authorization: `Bearer ${token}` }, form });
  expect((await post({ data: "no topic" })).status()).toBe(400);
  expect((await post({ topic: "*" })).status()).toBe(400);
  expect((await post({ topic: "/.well-known/mercure/subscriptions/x" })).status()).toBe(400);
  expect((await post({ topic: "t", type: "mercure" })).status()).toBe(400);
  expect((await post({ topic: "t", retry: "1s" })).status()).toBe(400);
  const noGrant = accessToken([detail(["subscribe"], ["*"])]);
  const denied = await post({ topic: "t" }, noGrant);
  expect(denied.status()).toBe(403);
  expect(denied.headers()["www-authenticate"]).toContain('error="insufficient_scope"');
  const bad = await post({ topic: "t" }, publisher.slice(0, -2) + "xx");
  expect(bad.status()).toBe(401);
  expect(bad.headers()["www-authenticate"]).toContain('error="invalid_token"');
  const none = await page.request.post("/.well-known/mercure", { form: { topic: "t" } });
  expect(none.status()).toBe(401);
  expect(none.headers()["www-authenticate"]).toMatch(/^Bearer/);
});
