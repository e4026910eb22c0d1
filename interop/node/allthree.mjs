// allthree.mjs: one reader on each of ssehub's three SSE surfaces for the
// same native topic, with each protocol's own client, used by
// interop/protocols_test.go to check "publish once, serve all three":
//
//   BASE=http://127.0.0.1:8080 TOPIC=orders.created IRI=https://… \
//   TOKEN=<ssehub stream token> JWT=<Mercure subscriber JWT> N=5 node allthree.mjs
//
//   - ssehub's EventSource surface (GET /events, the npm eventsource package);
//   - Mercure (GET /.well-known/mercure?topic=IRI, the same EventSource
//     class with the JWT in the Authorization header, as Mercure clients do);
//   - Durable Streams (the read-only view /v1/stream/_topics/TOPIC, read live
//     with the protocol's own npm client, @durable-streams/client).
//
// Each reads from the beginning of the topic's history (last_event_id=0,
// lastEventID=earliest, offset=-1) and then live. It writes one JSON line
// per received event to stdout:
//   {"surface":"events"|"mercure"|"durable","data":"…","id":"…"}
// and exits 0 once every surface has N events.
import { EventSource } from "eventsource";
import { stream } from "@durable-streams/client";

const { BASE, TOPIC, IRI, TOKEN, JWT } = process.env;
const want = Number.parseInt(process.env.N ?? "", 10);
if (!BASE || !TOPIC || !IRI || !TOKEN || !JWT || !Number.isInteger(want)) {
  process.stderr.write("usage: BASE= TOPIC= IRI= TOKEN= JWT= N= node allthree.mjs\n");
  process.exit(64);
}

const got = { events: 0, mercure: 0, durable: 0 };
const sources = [];

function out(surface, data, id) {
  process.stdout.write(JSON.stringify({ surface, data, id }) + "\n");
  got[surface]++;
  if (Object.values(got).every((n) => n >= want)) {
    for (const es of sources) es.close();
    process.stdout.write("", () => process.exit(0));
  }
}

function open(surface, url, headers) {
  const es = new EventSource(url, {
    fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, ...headers } }),
  });
  es.addEventListener("open", () => process.stderr.write(`open ${surface}\n`));
  es.addEventListener("message", (ev) => out(surface, ev.data, ev.lastEventId));
  es.addEventListener("error", (ev) => process.stderr.write(`error ${surface} ${es.readyState} ${ev.message ?? ""}\n`));
  sources.push(es);
}

open("events", `${BASE}/events?topic=${encodeURIComponent(TOPIC)}&last_event_id=0`, { Authorization: `Bearer ${TOKEN}` });
open("mercure", `${BASE}/.well-known/mercure?topic=${encodeURIComponent(IRI)}&lastEventID=earliest`, { Authorization: `Bearer ${JWT}` });

const res = await stream({
  url: `${BASE}/v1/stream/_topics/${TOPIC}`,
  headers: { Authorization: `Bearer ${TOKEN}` },
  offset: "-1",
  live: "sse",
});
res.subscribeJson(async (batch) => {
  for (const item of batch.items) out("durable", JSON.stringify(item), batch.offset);
});
