package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

var errTrailing = errors.New("unexpected data after the JSON value")

// ReadBody reads the request body, at most limit bytes (413 past it).
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if r.ContentLength > limit {
		WriteError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the body is larger than the limit of %d bytes", limit))
		return nil, false
	}
	var body []byte
	var err error
	if r.ContentLength >= 0 {
		// The length is known and within the limit: one allocation, where
		// io.ReadAll would grow a buffer through a dozen copies.
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			WriteError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the body is larger than the limit of %d bytes", limit))
		} else {
			WriteError(w, http.StatusBadRequest, CodeBadRequest, "reading the body failed")
		}
		return nil, false
	}
	return body, true
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
