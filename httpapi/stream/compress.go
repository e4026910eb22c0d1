package stream

import (
	"encoding/binary"
	"hash/crc32"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
)

// Compression says whether event streams are compressed, and with what,
// for clients that ask for it with Accept-Encoding (see docs/compression.md).
type Compression string

// The compression modes.
const (
	// CompressionOff never compresses (the default).
	CompressionOff Compression = "off"
	// CompressionGzip compresses with gzip for clients that accept it.
	CompressionGzip Compression = "gzip"
	// CompressionZstd compresses with zstd for clients that accept it;
	// others get the stream as it is.
	CompressionZstd Compression = "zstd"
	// CompressionAuto compresses with gzip where the client accepts it (at
	// least as much as zstd), else with zstd where it accepts that: gzip
	// keeps the end of what a stream sent as the next write's window, so
	// it sends fewer bytes than zstd when a write carries few events, the
	// usual case (docs/compression.md).
	CompressionAuto Compression = "auto"
)

// encoding is a stream's content encoding.
type encoding uint8

const (
	identity encoding = iota
	encGzip
	encZstd
)

func (e encoding) String() string {
	switch e {
	case encGzip:
		return "gzip"
	case encZstd:
		return "zstd"
	}
	return "identity"
}

// compresses reports whether c may compress any stream (and so whether a
// stream's response varies with Accept-Encoding).
func (c Compression) compresses() bool {
	return c == CompressionGzip || c == CompressionZstd || c == CompressionAuto
}

// negotiate picks the encoding of a stream from the request's
// Accept-Encoding: only one the client lists (or covers with "*") with a
// non-zero q, never one it did not ask for.
func (c Compression) negotiate(h http.Header) encoding {
	if !c.compresses() {
		return identity
	}
	qGzip, qZstd := acceptQ(h, "gzip", "x-gzip"), acceptQ(h, "zstd", "")
	switch c {
	case CompressionGzip:
		if qGzip > 0 {
			return encGzip
		}
	case CompressionZstd:
		if qZstd > 0 {
			return encZstd
		}
	case CompressionAuto:
		switch {
		case qGzip > 0 && qGzip >= qZstd:
			return encGzip
		case qZstd > 0:
			return encZstd
		}
	}
	return identity
}

// acceptQ returns the q value Accept-Encoding gives coding (or its alias):
// its own, else that of "*", else 0. A malformed q counts as 0.
func acceptQ(h http.Header, coding, alias string) float64 {
	own, star := -1.0, -1.0
	for _, line := range h.Values("Accept-Encoding") {
		for elem := range strings.SplitSeq(line, ",") {
			name, params, _ := strings.Cut(elem, ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != coding && (alias == "" || name != alias) && name != "*" {
				continue
			}
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
					if err != nil || f < 0 || f > 1 {
						f = 0
					}
					q = f
				}
			}
			if name == "*" {
				star = max(star, q)
			} else {
				own = max(own, q)
			}
		}
	}
	switch {
	case own >= 0:
		return own
	case star >= 0:
		return star
	}
	return 0
}

// setEncodingHeaders sets the headers a stream's encoding calls for: Vary
// whenever compression is on (the response depends on Accept-Encoding
// either way), Content-Encoding when the stream is compressed.
func setEncodingHeaders(h http.Header, c Compression, enc *streamEncoder) {
	if c.compresses() {
		h.Add("Vary", "Accept-Encoding")
	}
	if enc != nil {
		h.Set("Content-Encoding", enc.enc.String())
		h.Del("Content-Length")
	}
}

// A streamEncoder compresses one stream, a batch (one write) at a time.
// Each batch ends flushed (gzip: a deflate sync flush; zstd: a whole
// frame), so the client decodes all of it as soon as it arrives and
// latency does not change. No compressor is held between batches: each
// batch takes one from a pool and gives it back, so an idle stream keeps
// only these few bytes and, for gzip, the last gzipTail bytes it sent: the
// next batch's compressor starts with them as its window, so a write of
// one event can still refer back to the event before it (the client's
// decoder has them in its window). A zstd batch is a frame of its own and
// cannot refer back at all. See docs/compression.md for what each costs.
type streamEncoder struct {
	enc     encoding
	started bool   // gzip: the header is written
	crc     uint32 // gzip: of the bytes so far
	size    uint32 // gzip: how many, mod 2^32
	tail    []byte // gzip: the last gzipTail bytes sent, at most
}

// gzipTail is how many of the bytes a gzip stream sent last it keeps for
// the next write's window: with a write per event, 512 bytes make the
// wire bytes per event about three times fewer, for 512 bytes more per
// idle stream (BenchmarkEncodeBatch).
const gzipTail = 512

// keep appends plain to the tail, keeping its last gzipTail bytes.
func (e *streamEncoder) keep(plain []byte) {
	if e.tail == nil {
		e.tail = make([]byte, 0, gzipTail)
	}
	if len(plain) >= gzipTail {
		e.tail = append(e.tail[:0], plain[len(plain)-gzipTail:]...)
		return
	}
	if drop := len(e.tail) + len(plain) - gzipTail; drop > 0 {
		e.tail = e.tail[:copy(e.tail, e.tail[drop:])]
	}
	e.tail = append(e.tail, plain...)
}

// newEncoder returns the encoder for enc, or nil for identity.
func newEncoder(enc encoding) *streamEncoder {
	if enc == identity {
		return nil
	}
	return &streamEncoder{enc: enc}
}

// gzipHeader is a gzip member's header: deflate, no name, no time, OS
// unknown (as compress/gzip writes it).
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// flateLevel is the deflate level of gzip streams: with a flush per write
// and the window empty at every write, higher levels buy little (see
// BenchmarkEncodeBatch).
const flateLevel = 1

// appendBuf is an io.Writer that appends to b.
type appendBuf struct{ b []byte }

func (a *appendBuf) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// pooledFlate is a deflate compressor and the buffer it writes to.
type pooledFlate struct {
	w   *flate.Writer
	out appendBuf
}

var flatePool = sync.Pool{New: func() any {
	p := new(pooledFlate)
	p.w, _ = flate.NewWriter(&p.out, flateLevel) // the level is valid
	return p
}}

// deflate appends plain to dst as deflate blocks that end with a sync flush
// (final: with the last block instead), with a window that holds window:
// the bytes that came just before plain in the stream.
func deflate(dst, plain, window []byte, final bool) []byte {
	p := flatePool.Get().(*pooledFlate)
	p.out.b = dst
	p.w.ResetDict(&p.out, window)
	// appendBuf never fails, and neither does the compressor then.
	if len(plain) > 0 {
		_, _ = p.w.Write(plain)
	}
	if final {
		_ = p.w.Close()
	} else {
		_ = p.w.Flush()
	}
	dst = p.out.b
	p.out.b = nil
	flatePool.Put(p)
	return dst
}

// zstdEncoder compresses every zstd stream's batches, each as one frame,
// with no state between them (EncodeAll is safe for concurrent use and
// keeps one encoder per processor).
var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithWindowSize(1<<17), zstd.WithLowerEncoderMem(true))
	if err != nil {
		panic("stream: zstd encoder: " + err.Error()) // the options are constant
	}
	return e
})

// appendBatch appends plain, compressed and flushed, to dst; nothing when
// plain is empty.
func (e *streamEncoder) appendBatch(dst, plain []byte) []byte {
	if len(plain) == 0 {
		return dst
	}
	switch e.enc {
	case encZstd:
		return zstdEncoder().EncodeAll(plain, dst)
	case encGzip:
		dst = e.gzipStart(dst)
		e.crc = crc32.Update(e.crc, crc32.IEEETable, plain)
		e.size += uint32(len(plain))
		dst = deflate(dst, plain, e.tail, false)
		e.keep(plain)
		return dst
	}
	return append(dst, plain...)
}

// appendEnd appends final, compressed, and what ends the encoding (gzip:
// the last block and the trailer, so the client can check the stream
// whole) to dst.
func (e *streamEncoder) appendEnd(dst, final []byte) []byte {
	if e.enc != encGzip {
		return e.appendBatch(dst, final)
	}
	dst = e.gzipStart(dst)
	e.crc = crc32.Update(e.crc, crc32.IEEETable, final)
	e.size += uint32(len(final))
	dst = deflate(dst, final, e.tail, true)
	e.tail = nil
	dst = binary.LittleEndian.AppendUint32(dst, e.crc)
	return binary.LittleEndian.AppendUint32(dst, e.size)
}

func (e *streamEncoder) gzipStart(dst []byte) []byte {
	if e.started {
		return dst
	}
	e.started = true
	return append(dst, gzipHeader...)
}

// plainPool holds the buffers a compressed stream's plain bytes are
// gathered in before they are compressed.
var plainPool = sync.Pool{New: func() any { b := make([]byte, 0, writeChunk+4096); return &b }}

// compressNext lets next fill a pooled buffer and appends its bytes,
// compressed with e, to dst.
func (e *streamEncoder) compressNext(dst []byte, next func([]byte) ([]byte, error)) ([]byte, error) {
	bp := plainPool.Get().(*[]byte)
	plain, err := next((*bp)[:0])
	dst = e.appendBatch(dst, plain)
	if cap(plain) <= 4*writeChunk {
		*bp = plain[:0]
		plainPool.Put(bp)
	}
	return dst, err
}

// compress returns b compressed as one batch; b itself when e is nil.
func (e *streamEncoder) compress(b []byte) []byte {
	if e == nil || len(b) == 0 {
		return b
	}
	return e.appendBatch(make([]byte, 0, len(b)/2+64), b)
}

// end returns final and the encoding's end, compressed; final itself when e
// is nil.
func (e *streamEncoder) end(final []byte) []byte {
	if e == nil {
		return final
	}
	return e.appendEnd(nil, final)
}

// encoderFor returns the encoder of r's stream, or nil when it is sent as
// it is.
func (f *Feature) encoderFor(r *http.Request) *streamEncoder {
	return newEncoder(f.opts.Compression.negotiate(r.Header))
}
