package client

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestPrefixReaderDropsLeadingBOM(t *testing.T) {
	cases := map[string]string{
		"":                    "",
		bom:                   "",
		bom + "data: x\n\n":   "data: x\n\n",
		bom + bom + "data":    bom + "data",
		"\xEF\xBB":            "\xEF\xBB",
		"\xEFx":               "\xEFx",
		"data: " + bom + "\n": "data: " + bom + "\n",
	}
	for in, want := range cases {
		for name, r := range map[string]io.Reader{
			"whole":    strings.NewReader(in),
			"one byte": iotest.OneByteReader(strings.NewReader(in)),
			"half":     iotest.HalfReader(strings.NewReader(in)),
		} {
			got, err := io.ReadAll(iotest.OneByteReader(&prefixReader{prefix: "id: 1\n\n", r: r}))
			if err != nil || string(got) != "id: 1\n\n"+want {
				t.Errorf("%q (%s): got %q, %v; want %q", in, name, got, err, "id: 1\n\n"+want)
			}
		}
	}
	if err := iotest.TestReader(&prefixReader{prefix: "id: 1\n\n", r: strings.NewReader(bom + "data: x\n\n")}, []byte("id: 1\n\ndata: x\n\n")); err != nil {
		t.Error(err)
	}
}

func TestBadInitialLastEventID(t *testing.T) {
	for _, id := range []string{"a\nb", "a\rb", "a\x00b"} {
		c := New("http://127.0.0.1:1/", WithLastEventID(id))
		if _, err := c.Next(t.Context()); err != errBadLastEventID {
			t.Errorf("%q: Next = %v, want errBadLastEventID", id, err)
		}
	}
}
