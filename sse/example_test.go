package sse_test

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ssehub/ssehub/sse"
)

func ExampleAppendEvent() {
	// Encode once into a reused buffer; the same bytes can then be written
	// to every connection.
	buf := make([]byte, 0, 512)
	buf, err := sse.AppendEvent(buf[:0], &sse.Event{
		ID:    "42",
		Type:  "price",
		Data:  []byte("{\"sym\":\"ACME\",\n \"px\":12.5}\n"),
		Retry: 2 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	buf = sse.AppendComment(buf, "keep-alive")
	os.Stdout.Write(buf)

	_, err = sse.AppendEvent(nil, &sse.Event{ID: "a\nb"})
	fmt.Println(err)
	// Output:
	// event: price
	// id: 42
	// retry: 2000
	// data: {"sym":"ACME",
	// data:  "px":12.5}
	// data:
	//
	// : keep-alive
	// sse: id must not contain CR, LF or NUL
}

func ExampleDecoder() {
	stream := "\uFEFFretry: 5000\r\n" +
		": a comment\r\n" +
		"id: 1\r\n" +
		"event: greeting\r\n" +
		"data: hello\r\n" +
		"data:  world\r\n" +
		"\r\n" +
		"data: no id, so the last one is kept\n\n" +
		"id: 2\ndata: cut off by the end of the stream\n"
	d := sse.NewDecoder(strings.NewReader(stream))
	for {
		ev, err := d.Next()
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Printf("id=%q type=%q data=%q\n", ev.ID, ev.Type, ev.Data)
	}
	retry, ok := d.Retry()
	fmt.Println(d.LastEventID(), retry, ok)
	// Output:
	// id="1" type="greeting" data="hello\n world"
	// id="1" type="message" data="no id, so the last one is kept"
	// EOF
	// 1 5s true
}

func ExampleEncoder() {
	enc := sse.NewEncoder(os.Stdout)
	enc.Comment("connected")
	enc.Encode(&sse.Event{ID: "1", Data: []byte("first")})
	// Output:
	// : connected
	// id: 1
	// data: first
	//
}
