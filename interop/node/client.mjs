// client.mjs: a tiny subscriber built on the npm `eventsource` package, used
// by interop/node_test.go to check ssehub against a third-party client.
//
//   node client.mjs URL N [TYPES]
//
// It opens an EventSource on URL, listens for the comma-separated event TYPES
// (default "message"), writes one JSON line per received event to stdout:
//   {"type":"…","data":"…","lastEventId":"…"}
// and exits 0 after N events. Connection state goes to stderr, one line each:
//   open            the stream is open (readyState OPEN)
//   error <state>   an error event; <state> is readyState afterwards
// A connection the package gives up on (readyState CLOSED) exits 2.
import { EventSource } from "eventsource";

const [url, nArg, typesArg] = process.argv.slice(2);
const want = Number.parseInt(nArg ?? "", 10);
if (!url || !Number.isInteger(want) || want < 1) {
  process.stderr.write("usage: node client.mjs URL N [TYPES]\n");
  process.exit(64);
}
const types = (typesArg ?? "message").split(",").filter((t) => t !== "");

const es = new EventSource(url);
let got = 0;

function finish(code) {
  es.close();
  // Let stdout drain before exiting (it is a pipe).
  process.stdout.write("", () => process.exit(code));
}

for (const type of types) {
  es.addEventListener(type, (ev) => {
    process.stdout.write(
      JSON.stringify({ type: ev.type, data: ev.data, lastEventId: ev.lastEventId }) + "\n",
    );
    got++;
    if (got >= want) finish(0);
  });
}
es.addEventListener("open", () => process.stderr.write("open\n"));
es.addEventListener("error", (ev) => {
  process.stderr.write(`error ${es.readyState} ${ev.message ?? ""}\n`);
  if (es.readyState === EventSource.CLOSED) finish(2);
});
