// Package arrow is ssehub's Arrow IPC mode, BoilStream's SSE consumer API:
// record batches ingested as Arrow IPC streams (or JSON rows converted to
// Arrow) are stored as events, exactly as published, and streamed as
// base64 "schema" and "batch" events that any Arrow implementation decodes.
//
// It holds the parts that do not speak HTTP:
//
//   - ReadIPC validates an IPC body (zero copy for a stream of one batch);
//     FromJSON and InferSchema turn JSON rows into a batch;
//   - Schema is a schema with its canonical encoding and fingerprint;
//   - NewEvent makes the event of a batch: Type "batch", Data the IPC
//     stream, Meta {"arrow_schema":"<fingerprint>","rows":N};
//   - Registry keeps each topic's schema and its changes in the store's KV;
//   - Format is the "arrow" output format, registered with package format
//     at init, so that importing this package makes "format: arrow" valid.
//
// The HTTP endpoint is package httpapi/ingest; the Go client is package
// arrow/arrowclient.
package arrow
