package bench

import "errors"

var errPublish = errors.New("bench: publishing the events failed")
