package emitter

import (
	"context"
	"errors"
	"net/http"
)

// Handler returns an http.Handler that starts a stream with opts for each
// request, calls fn with it, and closes it when fn returns (the model of
// BoxLang's SSE(callback)). ctx is the emitter's context: it is done when
// the stream ends (client gone, Options.Timeout, a failed write, Close), so
// a long-running fn should watch it.
//
// If fn returns an *[Error] while the stream is open, it is sent to the
// client as an error event (see [Emitter.Error]). Any other error is logged
// to Options.Logger and the client receives the code "INTERNAL" with a
// generic message, so internal details do not leak; errors reporting that
// the stream had already ended are not sent or logged.
//
// An OPTIONS request (a CORS preflight) is answered without calling fn,
// and so is a reconnection after the end event (204; see [Emitter.End]).
//
// Invalid options make every request fail with status 500 and a JSON
// error; check them beforehand with [Options.Validate].
func Handler(fn func(ctx context.Context, e *Emitter) error, opts Options) http.Handler {
	optsErr := opts.Validate()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if optsErr != nil {
			opts.logger().Error("emitter: invalid options", "err", optsErr)
			WriteError(w, http.StatusInternalServerError, "INTERNAL", "the event stream is misconfigured")
			return
		}
		e, err := Start(w, r, opts)
		if err != nil {
			return // answered (a preflight, a finished stream), or the client is gone
		}
		defer e.Close()
		err = fn(e.Context(), e)
		if err == nil || e.Closed() {
			return
		}
		var appErr *Error
		if errors.As(err, &appErr) {
			_ = e.Error(appErr.Code, appErr.Message)
			return
		}
		opts.logger().Error("emitter: stream callback failed", "path", r.URL.Path, "err", err)
		_ = e.Error("INTERNAL", "internal error")
	})
}
