package bench

import "time"

// SetReplayIdle sets how long a replay may receive nothing before it is
// taken as ended short, and returns a function that restores it.
func SetReplayIdle(d time.Duration) (restore func()) {
	old := replayIdle
	replayIdle = d
	return func() { replayIdle = old }
}

// SetRequestTimeout sets the bound of one ingest or pull request, and
// returns a function that restores it.
func SetRequestTimeout(d time.Duration) (restore func()) {
	old := requestTimeout
	requestTimeout = d
	return func() { requestTimeout = old }
}
