package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"
)

var errTrailing = errors.New("unexpected data after the JSON value")

// DefaultBodyTimeout is how long a request's body may take to arrive when
// Options.BodyTimeout is zero.
const DefaultBodyTimeout = 30 * time.Second

// preallocBody is how much of a body of known length is allocated before
// any of it arrives: the length a client declares costs nothing until it
// sends the bytes.
const preallocBody = 64 << 10

// ReadBody reads the request body, at most limit bytes (413 past it),
// within the server's body timeout (408 past it: a client that sends its
// body a byte at a time cannot hold the connection, and what it declared
// in Content-Length is allocated only as it arrives).
func (s *Server) ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	return readBody(w, r, limit, s.opts.BodyTimeout)
}

// ReadBody is Server.ReadBody with DefaultBodyTimeout.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	return readBody(w, r, limit, DefaultBodyTimeout)
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64, timeout time.Duration) ([]byte, bool) {
	if r.ContentLength > limit {
		WriteError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the body is larger than the limit of %d bytes", limit))
		return nil, false
	}
	if r.ContentLength == 0 {
		return []byte{}, true
	}
	for _, v := range r.Header.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				// The hub decodes no content coding (so no decompression
				// bomb either): taking the body would store its compressed
				// bytes as the data and acknowledge them.
				w.Header().Set("Accept-Encoding", "identity")
				WriteError(w, http.StatusUnsupportedMediaType, CodeMediaType, fmt.Sprintf("Content-Encoding %.40q is not supported: send the body uncompressed", c))
				return nil, false
			}
		}
	}
	if timeout <= 0 {
		timeout = DefaultBodyTimeout
	}
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(timeout)) == nil
	var body []byte
	var err error
	if r.ContentLength > 0 && r.ContentLength <= preallocBody {
		// Small and of known length: one allocation, where io.ReadAll
		// would grow a buffer through a dozen copies.
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		// Unknown or large: grown as the bytes arrive.
		buf := make([]byte, 0, min(max(r.ContentLength, 512), preallocBody))
		body, err = readAllInto(buf, http.MaxBytesReader(w, r.Body, limit))
	}
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			WriteError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the body is larger than the limit of %d bytes", limit))
		case errors.Is(err, os.ErrDeadlineExceeded):
			w.Header().Set("Connection", "close")
			WriteError(w, http.StatusRequestTimeout, CodeTimeout, fmt.Sprintf("the body did not arrive within %v", timeout))
		default:
			WriteError(w, http.StatusBadRequest, CodeBadRequest, "reading the body failed")
		}
		// The deadline stays past: net/http reads what is left of a
		// short body after the handler, to reuse the connection, and a
		// client that dribbles must not hold it that way either.
		return nil, false
	}
	if deadline {
		_ = rc.SetReadDeadline(time.Time{})
	}
	return body, true
}

// readAllInto is io.ReadAll appending to buf.
func readAllInto(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// MediaType returns r's Content-Type without parameters, lower case.
func MediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(ct)
	}
	return mt
}
