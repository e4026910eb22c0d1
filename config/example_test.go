package config_test

import (
	"fmt"
	"os"

	_ "github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/config"
	_ "github.com/ssehub/ssehub/memory"
)

func ExampleExpand() {
	os.Setenv("HUB_TOKEN", "s3cret")
	defer os.Unsetenv("HUB_TOKEN")
	fmt.Println(config.Expand(`admin_token: "${HUB_TOKEN}"`))
	fmt.Println(config.Expand(`path: "${HUB_DATA:-/var/lib/ssehub}"`))
	fmt.Println(config.Expand(`price: "$$5" unset: "${HUB_UNSET}"`))
	// Output:
	// admin_token: "s3cret"
	// path: "/var/lib/ssehub"
	// price: "$5" unset: ""
}

func ExampleConfig_AllStreams() {
	c, err := config.Parse([]byte(`
streams:
  orders:
    match: [orders.*, refunds.*]
    heartbeat_style: comment
sink:
  events_stream:
    type: sse
  pull:
    type: http_pull
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range c.AllStreams() {
		fmt.Println(s.Endpoint(), s.Match, "replay:", s.Replay, "public:", s.Public, "heartbeat:", s.Heartbeat, s.HeartbeatStyle)
	}
	fmt.Println(c.Warnings)
	// Output:
	// /events_stream/ [*] replay: false public: true heartbeat: 30s event
	// /orders/ [orders.* refunds.*] replay: true public: false heartbeat: 30s comment
	// []
}

func ExampleConfig_Validate() {
	c := config.Default()
	c.Storage.Driver = "postgres"
	c.Log.Level = "loud"
	fmt.Println(c.Validate())
	// Output:
	// config: log.level: "loud" is not one of debug, info, warn, error
	// config: storage.driver: storage driver "postgres" is not available in this build (available: bolt, memory)
}
