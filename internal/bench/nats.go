package bench

import (
	"context"
	"strings"
	"time"
)

// Nodes measures two hub nodes on one shared log (two `ssehub serve` on
// one NATS JetStream): Publishers publishers publish to Server for
// Duration (at most Rate publishes/s in all) while Subscribers
// subscribers listen, every even-numbered one on the other node
// (SubscribeServers[0]) and every odd-numbered one on Server itself, the
// same-node baseline of the same run. Then it waits for every subscriber
// to have the last event and reports deliveries/s, loss and duplicates
// (ids are the log's, the same on both nodes), and the publish→receive
// latency across nodes and on the publishing node.
func Nodes(ctx context.Context, cfg *Config) (*Result, error) {
	if len(cfg.SubscribeServers) == 0 {
		return nil, errorf("nats", "want the other node's URL (--subscribe-server URL, or --spawn)")
	}
	local := strings.TrimRight(cfg.Server, "/")
	remote := strings.TrimRight(cfg.SubscribeServers[0], "/")
	topic := uniqueTopic("nodes")
	isRemote := func(i int) bool { return i%2 == 0 }
	cfg.progress("nats: connecting %d subscribers, half on %s (the other node), half on %s", cfg.Subscribers, remote, local)
	subs, err := openSubscribersAt(ctx, cfg, func(i int) string {
		if isRemote(i) {
			return remote + "/events?topic=" + topic
		}
		return local + "/events?topic=" + topic
	}, cfg.Subscribers, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if subs != nil {
			subs.close()
		}
	}()
	cfg.progress("nats: publishing to %s with %d publishers for %s", local, cfg.Publishers, cfg.Duration)
	mark, start := cpuNow(cfg), time.Now()
	ps := publishFor(ctx, cfg, "nats", topic, &subs.delivered)
	pubEnd := time.Since(start)
	waitFor(ctx, 60*time.Second, func() bool {
		for i := range subs.seen {
			if subs.seen[i].Load() < ps.maxID {
				return false
			}
		}
		return true
	})
	elapsed := time.Since(start)
	subs.close()
	var remoteLat, localLat Histogram
	var got, dups uint64
	nRemote := 0
	for i, rc := range subs.recv {
		if isRemote(i) {
			remoteLat.Merge(&rc.Latency)
			nRemote++
		} else {
			localLat.Merge(&rc.Latency)
		}
		got += rc.Events
		dups += rc.Dups
	}
	subs = nil
	want := ps.acks * uint64(cfg.Subscribers)
	res := &Result{Scenario: "nats"}
	res.set("subscribers_other_node", nRemote)
	res.set("subscribers_same_node", cfg.Subscribers-nRemote)
	res.set("publishers", cfg.Publishers)
	res.set("payload_bytes", cfg.PayloadSize)
	res.set("duration_s", pubEnd.Seconds())
	res.set("published", ps.acks)
	res.set("publish_errors", ps.errs)
	res.set("publishes_per_s", float64(ps.acks)/pubEnd.Seconds())
	res.set("deliveries", got)
	res.set("deliveries_per_s", float64(got)/elapsed.Seconds())
	res.set("lost", int64(want)-int64(got))
	res.set("duplicates", dups)
	res.set("other_node_p50_ms", ms(remoteLat.Quantile(0.50)))
	res.set("other_node_p99_ms", ms(remoteLat.Quantile(0.99)))
	res.set("other_node_p999_ms", ms(remoteLat.Quantile(0.999)))
	res.set("other_node_max_ms", ms(remoteLat.Max()))
	if localLat.Count() > 0 {
		res.set("same_node_p50_ms", ms(localLat.Quantile(0.50)))
		res.set("same_node_p99_ms", ms(localLat.Quantile(0.99)))
		res.set("same_node_max_ms", ms(localLat.Max()))
	}
	res.set("publish_ack_p50_ms", ms(ps.lat.Quantile(0.50)))
	res.set("publish_ack_p99_ms", ms(ps.lat.Quantile(0.99)))
	res.cpuFigures(cfg, mark, elapsed)
	return res, nil
}
