package durable_test

import (
	"fmt"

	"github.com/ssehub/ssehub/httpapi/durable"
)

// The stream at /v1/stream/chat/room_1 is the ssehub topic
// ds.chat.room_5F1: subscribe to ds.chat.* for every stream below chat/.
func ExampleTopicFor() {
	topic, err := durable.TopicFor("chat/room_1")
	if err != nil {
		panic(err)
	}
	name, _ := durable.NameFor(topic)
	fmt.Println(topic, name)
	// Output: ds.chat.room_5F1 chat/room_1
}

// New returns the feature a program lists among its httpapi features;
// `ssehub serve` builds it from the durable_streams configuration.
func ExampleNew() {
	f := durable.New(durable.Options{PublicRead: true})
	fmt.Printf("%T\n", f)
	// Output: *durable.Feature
}
