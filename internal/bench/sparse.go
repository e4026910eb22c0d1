package bench

import (
	"context"
	"net/http"
	"slices"
	"time"
)

// Sparse defaults: one event in 100 on the rare topic, 5 rounds.
const (
	defaultSparseEvery  = 100
	defaultSparseRounds = 5
)

// Sparse fills the log with Events events, one in SparseEvery on a rare
// topic and the rest on a dense one, then replays, Rounds times and
// alternately, the rare topic from the start (every one of its events,
// spread over the whole log) and as many events of the dense topic from
// the start (packed at the log's beginning). It reports the median time
// and rate of each and their ratio: what a reconnecting client of a quiet
// topic pays in a log dominated by others.
func Sparse(ctx context.Context, cfg *Config) (*Result, error) {
	every := orDefault(cfg.SparseEvery, defaultSparseEvery)
	rounds := orDefault(cfg.Rounds, defaultSparseRounds)
	total := max(cfg.Events, 0)
	rare := total / every
	if every < 2 || rare < 1 {
		return nil, errorf("sparse", "want --events (%d) at least --sparse-every (%d), which is at least 2", total, every)
	}
	base := uniqueTopic("sparse")
	rareTopic, denseTopic := base+".rare", base+".dense"
	client := newClient(cfg, cfg.Publishers+2, false)
	cfg.progress("sparse: publishing %d events, %d of them (one in %d) on %s", total, rare, every, rareTopic)
	fillStart := time.Now()
	if err := fill(ctx, cfg, client, total, func(g int) string {
		if g%every == every-1 {
			return rareTopic
		}
		return denseTopic
	}); err != nil {
		return nil, err
	}
	fillTime := time.Since(fillStart)

	// replay reads want events of topic from the start on a new stream
	// and returns how long that took, from the request to the last byte.
	replay := func(topic string, want int) (time.Duration, *Receiver, error) {
		start := time.Now()
		resps, err := subscribe(ctx, cfg, []*http.Client{client}, "/events?topic="+topic+"&last_event_id=earliest", 1)
		if err != nil {
			return 0, nil, err
		}
		defer resps[0].Body.Close()
		rc := &Receiver{}
		err = consumeReplay(resps[0].Body, rc, uint64(want), "sparse: the replay of "+topic)
		return time.Since(start), rc, err
	}
	var rareTimes, denseTimes []time.Duration
	var dups uint64
	mark, start := cpuNow(cfg), time.Now()
	for r := range rounds {
		tr, rc, err := replay(rareTopic, rare)
		if err != nil {
			return nil, err
		}
		dups += rc.Dups
		td, rc, err := replay(denseTopic, rare)
		if err != nil {
			return nil, err
		}
		dups += rc.Dups
		rareTimes, denseTimes = append(rareTimes, tr), append(denseTimes, td)
		cfg.progress("sparse: round %d: rare %d events in %.2f ms, dense %d events in %.2f ms", r+1, rare, ms(tr), rare, ms(td))
	}
	elapsed := time.Since(start)
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	mr, md := median(rareTimes), median(denseTimes)
	perEvent := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(rare) }
	res := &Result{Scenario: "sparse"}
	res.set("events_in_log", total)
	res.set("sparse_every", every)
	res.set("replayed_events", rare)
	res.set("rounds", rounds)
	res.set("fill_events_per_s", float64(total)/fillTime.Seconds())
	res.set("rare_replay_ms", ms(mr))
	res.set("rare_events_per_s", float64(rare)/mr.Seconds())
	res.set("rare_ns_per_event", perEvent(mr))
	res.set("dense_replay_ms", ms(md))
	res.set("dense_events_per_s", float64(rare)/md.Seconds())
	res.set("dense_ns_per_event", perEvent(md))
	res.set("rare_vs_dense", float64(mr)/float64(md))
	// The first round reads pages nothing cached yet.
	res.set("rare_first_replay_ms", ms(rareTimes[0]))
	res.set("dense_first_replay_ms", ms(denseTimes[0]))
	res.set("duplicates", dups)
	res.cpuFigures(cfg, mark, elapsed)
	return res, nil
}
