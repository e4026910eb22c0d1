package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// apiError is the JSON body of every failed request.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// wantError checks that a response is the JSON error every failed request
// gets: status, Content-Type application/json and
// {"error":{"code":code,"message":…}} with a message. code "" takes any.
func wantError(t testing.TB, what string, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	var e apiError
	err := json.Unmarshal(body, &e)
	switch {
	case resp.StatusCode != status:
		t.Errorf("%s: status %d, want %d: %.300s", what, resp.StatusCode, status, body)
	case !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"):
		t.Errorf("%s: Content-Type %q, want application/json: %.300s", what, resp.Header.Get("Content-Type"), body)
	case err != nil || e.Error.Code == "" || e.Error.Message == "":
		t.Errorf("%s: body is not {\"error\":{\"code\",\"message\"}}: %v: %.300s", what, err, body)
	case code != "" && e.Error.Code != code:
		t.Errorf("%s: code %q, want %q: %.300s", what, e.Error.Code, code, body)
	}
}

// send sends req with the default client and returns the response and its
// whole body.
func send(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// newRequest builds a request to the test hub with the token given (none
// when ""), a body and headers in pairs.
func (th *testHub) newRequest(method, path, token, body string, hdr ...string) *http.Request {
	th.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, th.srv.URL+path, r)
	if err != nil {
		th.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// readAll reads a response's body.
func readAll(resp *http.Response) []byte {
	b, _ := io.ReadAll(resp.Body)
	return b
}
