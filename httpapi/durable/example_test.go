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

// Options.NativeTopics takes ssehub patterns; those that could reach a
// protocol's own topics are refused, so Register fails on them.
func ExampleNativeFilter() {
	f, err := durable.NativeFilter([]string{"orders.*", "audit.login"})
	fmt.Println(f.Match("orders.created"), f.Match("audit.logout"), err)
	_, err = durable.NativeFilter([]string{"ds.*"})
	fmt.Println(err != nil)
	// Output:
	// true false <nil>
	// true
}

// The views' prefix is one plain path: no empty, "." or ".." segment.
func ExampleValidateNativePath() {
	fmt.Println(durable.ValidateNativePath("_topics"), durable.ValidateNativePath("a/../b") != nil)
	// Output: <nil> true
}
