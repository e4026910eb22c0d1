package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// ErrCorrupt is wrapped by the error of an Open, Check or Salvage that
// found the data file damaged.
var ErrCorrupt = errors.New("the data file is damaged")

// The bbolt file format (go.etcd.io/bbolt v1.x, format version 2), read
// here with bounds-checked reads instead of bbolt's unchecked pointer
// arithmetic on a memory map. Integers are in the machine's byte order:
// the file is only ever opened on the kind of machine that wrote it.
const (
	pageHeaderSize = 16 // id u64, flags u16, count u16, overflow u32
	elemSize       = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	bucketHdrSize  = 16 // root pgid u64, sequence u64
	metaSize       = 64
	flagBranch     = 0x01
	flagLeaf       = 0x02
	flagMeta       = 0x04
	flagFreelist   = 0x10
	leafBucket     = 0x01
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	noFreelist     = ^uint64(0)
	maxDepth       = 64
)

var ne = binary.NativeEndian

type metaPage struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64 // high water mark: pages >= pgid are not allocated
	txid     uint64
}

// parseMeta validates and parses the meta in b (a page's bytes after its
// header) as bbolt's Meta.Validate does.
func parseMeta(b []byte) (metaPage, bool) {
	if len(b) < metaSize || ne.Uint32(b[0:]) != boltMagic || ne.Uint32(b[4:]) != boltVersion {
		return metaPage{}, false
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if h.Sum64() != ne.Uint64(b[56:]) {
		return metaPage{}, false
	}
	return metaPage{pageSize: ne.Uint32(b[8:]), root: ne.Uint64(b[16:]), freelist: ne.Uint64(b[32:]),
		pgid: ne.Uint64(b[40:]), txid: ne.Uint64(b[48:])}, true
}

// pageFile reads the pages of a bbolt file, through a read-ahead window
// (the tree walk mostly moves forward through the file).
type pageFile struct {
	r        io.ReaderAt
	size     int64
	pageSize int
	meta     metaPage
	win      []byte // the file's bytes [winOff, winOff+len(win))
	winOff   int64
	bufs     [][]byte // one page buffer per depth of the walk
}

const readAhead = 1 << 20

// readAt fills b from offset off.
func (pf *pageFile) readAt(b []byte, off int64) error {
	if off >= pf.winOff && off+int64(len(b)) <= pf.winOff+int64(len(pf.win)) {
		copy(b, pf.win[off-pf.winOff:])
		return nil
	}
	if len(b) > readAhead/4 {
		_, err := pf.r.ReadAt(b, off)
		return err
	}
	if pf.win == nil {
		pf.win = make([]byte, readAhead)
	}
	n := int64(readAhead)
	if off+n > pf.size {
		n = pf.size - off
	}
	if n < int64(len(b)) {
		return io.ErrUnexpectedEOF
	}
	m, err := pf.r.ReadAt(pf.win[:n], off)
	pf.win, pf.winOff = pf.win[:m], off
	if m < len(b) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	copy(b, pf.win)
	return nil
}

// buf returns the page buffer of depth d, of at least n bytes. A page read
// at depth d stays valid while the walk is below it.
func (pf *pageFile) buf(d, n int) []byte {
	for len(pf.bufs) <= d {
		pf.bufs = append(pf.bufs, nil)
	}
	if cap(pf.bufs[d]) < n {
		pf.bufs[d] = make([]byte, n)
	}
	return pf.bufs[d][:n]
}

// openPages reads the meta pages the way bbolt chooses them: the page size
// from the first valid meta (meta 0, else meta 1 found at the offsets bbolt
// tries), then of the two metas at that size the valid one with the higher
// transaction id.
func openPages(r io.ReaderAt, size int64) (*pageFile, error) {
	if size < 2*1024 {
		return nil, fmt.Errorf("%w: the file has %d bytes, fewer than two pages", ErrCorrupt, size)
	}
	read := func(off int64, n int) []byte {
		b := make([]byte, n)
		m, _ := r.ReadAt(b, off)
		return b[:m]
	}
	pageSize := 0
	if m, ok := parseMeta(sub(read(0, 0x1000), pageHeaderSize)); ok {
		pageSize = int(m.pageSize)
	} else {
		for i := 0; i <= 14; i++ {
			pos := int64(1024) << i
			if pos >= size-1024 {
				break
			}
			if m, ok := parseMeta(sub(read(pos, 0x1000), pageHeaderSize)); ok {
				pageSize = int(m.pageSize)
				break
			}
		}
	}
	if pageSize == 0 {
		return nil, fmt.Errorf("%w: no valid meta page (not a bbolt file, or both meta pages damaged)", ErrCorrupt)
	}
	if pageSize < 1024 || pageSize > 1<<24 || pageSize&(pageSize-1) != 0 {
		return nil, fmt.Errorf("%w: page size %d", ErrCorrupt, pageSize)
	}
	m0, ok0 := parseMeta(sub(read(0, pageSize), pageHeaderSize))
	m1, ok1 := parseMeta(sub(read(int64(pageSize), pageSize), pageHeaderSize))
	var m metaPage
	switch {
	case ok0 && ok1:
		m = m0
		if m1.txid > m0.txid {
			m = m1
		}
	case ok0:
		m = m0
	case ok1:
		m = m1
	default:
		return nil, fmt.Errorf("%w: both meta pages are invalid", ErrCorrupt)
	}
	if ok0 && ok1 && m0.pageSize != m1.pageSize {
		return nil, fmt.Errorf("%w: the meta pages disagree on the page size", ErrCorrupt)
	}
	if int(m.pageSize) != pageSize {
		return nil, fmt.Errorf("%w: page size %d in the meta, %d found", ErrCorrupt, m.pageSize, pageSize)
	}
	pf := &pageFile{r: r, size: size, pageSize: pageSize, meta: m}
	if m.pgid < 3 || m.pgid > uint64(size)/uint64(pageSize) {
		return nil, fmt.Errorf("%w: the file is truncated: %d bytes hold %d pages of %d, the meta counts %d (cut short by a full disk or a copy?)",
			ErrCorrupt, size, size/int64(pageSize), pageSize, m.pgid)
	}
	if m.root < 2 || m.root >= m.pgid {
		return nil, fmt.Errorf("%w: root page %d outside the file's %d pages", ErrCorrupt, m.root, m.pgid)
	}
	return pf, nil
}

func sub(b []byte, from int) []byte {
	if len(b) < from {
		return nil
	}
	return b[from:]
}

// page is one page (with its overflow pages) read from the file.
type page struct {
	id       uint64
	flags    uint16
	count    int
	overflow uint32
	b        []byte // the whole page, header included
}

// readPage reads page id into a new buffer, checking that it lies inside
// the file and below the high water mark and that it identifies itself as
// id.
func (pf *pageFile) readPage(id uint64) (*page, error) { return pf.readPageAt(id, -1) }

// readPageAt is readPage into the buffer of depth d (d < 0: a new one).
func (pf *pageFile) readPageAt(id uint64, d int) (*page, error) {
	if id < 2 || id >= pf.meta.pgid {
		return nil, fmt.Errorf("page %d: outside the allocated pages [2, %d)", id, pf.meta.pgid)
	}
	var hdrBuf [pageHeaderSize]byte
	hdr := hdrBuf[:]
	if err := pf.readAt(hdr, int64(id)*int64(pf.pageSize)); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	p := &page{id: ne.Uint64(hdr), flags: ne.Uint16(hdr[8:]), count: int(ne.Uint16(hdr[10:])), overflow: ne.Uint32(hdr[12:])}
	if p.id != id {
		return nil, fmt.Errorf("page %d: identifies itself as page %d", id, p.id)
	}
	if id+uint64(p.overflow) >= pf.meta.pgid {
		return nil, fmt.Errorf("page %d: %d overflow pages run past the allocated pages", id, p.overflow)
	}
	n := (int64(p.overflow) + 1) * int64(pf.pageSize)
	if int64(id)*int64(pf.pageSize)+n > pf.size {
		return nil, fmt.Errorf("page %d: runs past the end of the file", id)
	}
	if d < 0 {
		p.b = make([]byte, n)
	} else {
		p.b = pf.buf(d, int(n))
	}
	if err := pf.readAt(p.b, int64(id)*int64(pf.pageSize)); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return p, nil
}

// elems checks that count elements fit in b (a page including its header).
func elems(b []byte, count int) error {
	if pageHeaderSize+count*elemSize > len(b) {
		return fmt.Errorf("%d elements do not fit in %d bytes", count, len(b))
	}
	return nil
}

// branchElem returns element i of a branch page: key and child.
func branchElem(b []byte, i int) ([]byte, uint64, error) {
	off := pageHeaderSize + i*elemSize
	pos, ksize := int(ne.Uint32(b[off:])), int(ne.Uint32(b[off+4:]))
	child := ne.Uint64(b[off+8:])
	if off+pos+ksize > len(b) || pos < 0 || ksize < 0 {
		return nil, 0, fmt.Errorf("element %d: key outside the page", i)
	}
	return b[off+pos : off+pos+ksize], child, nil
}

// leafElem returns element i of a leaf page: flags, key and value.
func leafElem(b []byte, i int) (uint32, []byte, []byte, error) {
	off := pageHeaderSize + i*elemSize
	flags := ne.Uint32(b[off:])
	pos, ksize, vsize := int64(ne.Uint32(b[off+4:])), int64(ne.Uint32(b[off+8:])), int64(ne.Uint32(b[off+12:]))
	start := int64(off) + pos
	if start+ksize+vsize > int64(len(b)) {
		return 0, nil, nil, fmt.Errorf("element %d: key or value outside the page", i)
	}
	return flags, b[start : start+ksize], b[start+ksize : start+ksize+vsize], nil
}

// walker checks the tree of every bucket as bbolt would walk it, and
// visits every key and value. With tolerant set it records a damaged page
// and goes on with the rest, for salvage; otherwise the first damage ends
// the walk.
type walker struct {
	ctx      context.Context
	pf       *pageFile
	reached  []uint64 // bitmap of pages reached
	tolerant bool
	damaged  []string
	pages    int
	// kv is called for every key of a bucket (path: the names of the
	// buckets from the root, e.g. ["events"]); an error it returns is
	// damage of that value.
	kv func(path []string, k, v []byte) error
	// onPage, when set, is called for every page read (tests use it to
	// find the pages of a bucket).
	onPage func(path []string, p *page)
}

func (w *walker) mark(id uint64, overflow uint32) error {
	for i := uint64(0); i <= uint64(overflow); i++ {
		p := id + i
		if w.reached[p/64]&(1<<(p%64)) != 0 {
			return fmt.Errorf("page %d: referenced twice", p)
		}
		w.reached[p/64] |= 1 << (p % 64)
	}
	return nil
}

func (w *walker) damage(path []string, err error) error {
	if !w.tolerant {
		return fmt.Errorf("bucket %q: %w", pathName(path), err)
	}
	w.damaged = append(w.damaged, fmt.Sprintf("bucket %q: %v", pathName(path), err))
	return nil
}

func pathName(path []string) string {
	if len(path) == 0 {
		return "(root)"
	}
	return fmt.Sprint(path)
}

// walkBucket walks the tree rooted at page root, a bucket nested depth
// levels down the walk.
func (w *walker) walkBucket(path []string, root uint64, depth int) error {
	_, err := w.walkPage(path, root, nil, nil, depth)
	return err
}

// walkPage checks page id and its subtree: every key >= lo (when set) and
// < hi (when set), in order, as bbolt's key-order check demands. It
// returns the largest key of the subtree.
func (w *walker) walkPage(path []string, id uint64, lo, hi []byte, depth int) ([]byte, error) {
	if w.pages%1024 == 0 {
		if err := w.ctx.Err(); err != nil {
			return nil, err
		}
	}
	w.pages++
	if depth > maxDepth {
		return nil, w.damage(path, fmt.Errorf("page %d: the tree is deeper than %d", id, maxDepth))
	}
	p, err := w.pf.readPageAt(id, depth)
	if err != nil {
		return nil, w.damage(path, err)
	}
	if err := w.mark(id, p.overflow); err != nil {
		return nil, w.damage(path, err)
	}
	if w.onPage != nil {
		w.onPage(path, p)
	}
	if err := elems(p.b, p.count); err != nil {
		return nil, w.damage(path, fmt.Errorf("page %d: %w", id, err))
	}
	switch p.flags {
	case flagBranch:
		if p.count == 0 {
			return nil, w.damage(path, fmt.Errorf("page %d: a branch page without elements", id))
		}
		keys := make([][]byte, p.count)
		kids := make([]uint64, p.count)
		for i := range keys {
			if keys[i], kids[i], err = branchElem(p.b, i); err != nil {
				return nil, w.damage(path, fmt.Errorf("page %d: %w", id, err))
			}
		}
		running := lo
		var maxKey []byte
		for i, k := range keys {
			if err := keyOrder(i, k, running, hi); err != nil {
				return nil, w.damage(path, fmt.Errorf("page %d: %w", id, err))
			}
			next := hi
			if i < len(keys)-1 {
				next = keys[i+1]
			}
			m, err := w.walkPage(path, kids[i], k, next, depth+1)
			if err != nil {
				return nil, err
			}
			if m != nil {
				maxKey = m
			}
			running = maxKey
			if running == nil {
				running = k
			}
		}
		return maxKey, nil
	case flagLeaf:
		return w.walkLeaf(path, id, p.b, p.count, lo, hi, depth)
	default:
		return nil, w.damage(path, fmt.Errorf("page %d: not a branch or leaf page (flags %#x)", id, p.flags))
	}
}

// keyOrder is bbolt's verifyKeyOrder.
func keyOrder(i int, k, prev, hi []byte) error {
	if prev != nil && (i == 0 && bytes.Compare(prev, k) > 0 || i > 0 && bytes.Compare(prev, k) >= 0) {
		return fmt.Errorf("key %d out of order", i)
	}
	if hi != nil && bytes.Compare(k, hi) >= 0 {
		return fmt.Errorf("key %d past its parent's range", i)
	}
	return nil
}

// walkLeaf checks a leaf page (b holds it, header included), visits its
// keys and values and walks the buckets it holds.
func (w *walker) walkLeaf(path []string, id uint64, b []byte, count int, lo, hi []byte, depth int) ([]byte, error) {
	running := lo
	var last []byte
	for i := 0; i < count; i++ {
		flags, k, v, err := leafElem(b, i)
		if err != nil {
			return nil, w.damage(path, fmt.Errorf("page %d: %w", id, err))
		}
		if err := keyOrder(i, k, running, hi); err != nil {
			return nil, w.damage(path, fmt.Errorf("page %d: %w", id, err))
		}
		running, last = k, k
		if flags&leafBucket == 0 {
			if w.kv != nil {
				if err := w.kv(path, k, v); err != nil {
					if err := w.damage(path, fmt.Errorf("page %d, key %x: %w", id, k[:min(len(k), 40)], err)); err != nil {
						return nil, err
					}
				}
			}
			continue
		}
		child := append(append([]string(nil), path...), string(k))
		if len(v) < bucketHdrSize {
			if err := w.damage(child, fmt.Errorf("page %d: bucket header of %d bytes", id, len(v))); err != nil {
				return nil, err
			}
			continue
		}
		if root := ne.Uint64(v); root != 0 {
			if depth+1 > maxDepth {
				if err := w.damage(child, errors.New("buckets nested too deep")); err != nil {
					return nil, err
				}
				continue
			}
			if err := w.walkBucket(child, root, depth+1); err != nil {
				return nil, err
			}
			continue
		}
		// An inline bucket: a leaf page inside the value.
		inl := v[bucketHdrSize:]
		if len(inl) < pageHeaderSize {
			if err := w.damage(child, fmt.Errorf("page %d: inline bucket of %d bytes", id, len(inl))); err != nil {
				return nil, err
			}
			continue
		}
		n := int(ne.Uint16(inl[10:]))
		if fl := ne.Uint16(inl[8:]); fl != flagLeaf {
			if err := w.damage(child, fmt.Errorf("page %d: inline bucket page with flags %#x", id, fl)); err != nil {
				return nil, err
			}
			continue
		}
		if err := elems(inl, n); err != nil {
			if err := w.damage(child, fmt.Errorf("page %d: inline bucket: %w", id, err)); err != nil {
				return nil, err
			}
			continue
		}
		if depth+1 > maxDepth {
			if err := w.damage(child, errors.New("buckets nested too deep")); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := w.walkLeaf(child, id, inl, n, nil, nil, depth+1); err != nil {
			return nil, err
		}
	}
	return last, nil
}

// checkFreelist checks the freelist page, if the file has one.
func (pf *pageFile) checkFreelist() error {
	if pf.meta.freelist == noFreelist {
		return nil
	}
	p, err := pf.readPage(pf.meta.freelist)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	if p.flags != flagFreelist {
		return fmt.Errorf("freelist page %d: flags %#x", p.id, p.flags)
	}
	idx, count := 0, p.count
	if count == 0xFFFF {
		if len(p.b) < pageHeaderSize+8 {
			return errors.New("freelist: short page")
		}
		idx, count = 1, int(min(ne.Uint64(p.b[pageHeaderSize:]), 1<<40))
	}
	if pageHeaderSize+(idx+count)*8 > len(p.b) {
		return fmt.Errorf("freelist: %d ids do not fit in its page", count)
	}
	for i := idx; i < idx+count; i++ {
		if id := ne.Uint64(p.b[pageHeaderSize+i*8:]); id < 2 || id >= pf.meta.pgid {
			return fmt.Errorf("freelist: page id %d outside the file", id)
		}
	}
	return nil
}

// verifyFile checks, before bbolt maps the file, everything bbolt's open
// and its scan of reachable pages would read without bounds checks: the
// meta pages, the file size against the high water mark, the freelist,
// and every page of every bucket (header, type, elements inside the page,
// key order, no page reached twice, nested buckets), as well as the
// checksum of every event record. A file that passes cannot crash bbolt's
// open. An empty file (a new store) passes.
func verifyFile(ctx context.Context, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return nil
	}
	_, err = walkFile(ctx, f, fi.Size(), false, checkRecordKV)
	return err
}

// checkRecordKV checks the event records of the events bucket.
func checkRecordKV(path []string, k, v []byte) error {
	if len(path) == 1 && path[0] == string(bucketEvents) {
		if len(k) != 8 {
			return fmt.Errorf("event key of %d bytes", len(k))
		}
		if _, err := body(v, true); err != nil {
			return err
		}
		if len(v) > 0 && v[0] == 0 {
			return nil // the checksum holds: the record is as it was written
		}
		if _, _, _, err := recordInfo(v); err != nil {
			return err
		}
	}
	return nil
}

// walkFile walks a whole file; it returns the walker for its findings.
func walkFile(ctx context.Context, r io.ReaderAt, size int64, tolerant bool, kv func([]string, []byte, []byte) error) (*walker, error) {
	pf, err := openPages(r, size)
	if err != nil {
		return nil, err
	}
	if err := pf.checkFreelist(); err != nil {
		if !tolerant {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	w := &walker{ctx: ctx, pf: pf, reached: make([]uint64, pf.meta.pgid/64+1), tolerant: tolerant, kv: kv}
	w.reached[0] |= 3 // the meta pages
	if err := w.walkBucket(nil, pf.meta.root, 0); err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return w, nil
}
