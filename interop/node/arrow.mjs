// arrow.mjs: the Node.js example of BoilStream's SSE consumer API, as the
// seed document writes it (the npm eventsource package, the browser
// example's listeners), with the npm apache-arrow package decoding each
// event. Driven by interop/arrow_test.go.
//
//   node arrow.mjs URL N
//
// One JSON line per schema, batch or heartbeat event on stdout:
//   {"type":"schema","topic":"…","fields":["…"]}
//   {"type":"batch","id":"<lastEventId>","rows":N,"first":"<first value of column 0>","fields":["…"]}
// Connection state on stderr ("open", "error <readyState>"). Exits 0 after N
// batches, 2 if the EventSource gives up.
import { EventSource } from "eventsource";
import { tableFromIPC } from "apache-arrow";

const [url, nArg] = process.argv.slice(2);
const want = Number.parseInt(nArg ?? "", 10);
if (!url || !Number.isInteger(want) || want < 1) {
  process.stderr.write("usage: node arrow.mjs URL N\n");
  process.exit(64);
}
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
let batches = 0;

const es = new EventSource(url);

es.addEventListener("schema", (event) => {
  // Decode base64 Arrow IPC → schema
  const bytes = Uint8Array.from(atob(event.data), c => c.charCodeAt(0));
  const schema = tableFromIPC(bytes).schema;
  out({ type: "schema", topic: schema.metadata.get("topic") ?? "", fields: schema.fields.map((f) => f.name) });
});

es.addEventListener("batch", (event) => {
  const batchSeq = event.lastEventId;
  const bytes = Uint8Array.from(atob(event.data), c => c.charCodeAt(0));
  const table = tableFromIPC(bytes); // the batch alone: it carries its schema
  out({
    type: "batch", id: batchSeq, rows: table.numRows,
    first: String(table.getChildAt(0)?.get(0)), fields: table.schema.fields.map((f) => f.name),
  });
  if (++batches >= want) {
    es.close();
    process.stdout.write("", () => process.exit(0));
  }
});

es.addEventListener("heartbeat", () => out({ type: "heartbeat" }));

es.onopen = () => process.stderr.write("open\n");
es.onerror = (err) => {
  process.stderr.write(`error ${es.readyState} ${err?.message ?? ""}\n`);
  // EventSource reconnects automatically with Last-Event-ID
  if (es.readyState === EventSource.CLOSED) process.exit(2);
};
