package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ssehub/ssehub"
	bbolt "go.etcd.io/bbolt"
)

// CheckReport is what Check found.
type CheckReport struct {
	// OK reports that the file is sound: bbolt can open it and every
	// record, count and index entry agrees.
	OK bool
	// Problems lists what is wrong, one finding a line.
	Problems []string
	// Events, Topics, First, Head and Epoch describe the log as stored.
	Events, Topics int64
	First, Head    uint64
	Epoch          string
	// Pages is the number of pages the check read.
	Pages int
}

// openShared opens the file of dir read-only under a shared lock, so that
// Check and Salvage never read a file a running hub is writing.
func openShared(ctx context.Context, dir string) (*os.File, int64, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("bolt: %w", err)
	}
	if err := lockFile(ctx, f, false, time.Second); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("bolt: data directory %s: %w", dir, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// Check examines the store in dir without changing it: the structure of
// the bbolt file (every page as bbolt's open would read it), the checksum
// of every event record, and, when the structure is sound, that the event
// count, byte total, head, topic counts and per-topic index agree with the
// events. It fails only when it cannot read the file (missing, or in use
// by a running hub); damage is reported in CheckReport.
func Check(ctx context.Context, dir string) (CheckReport, error) {
	var rep CheckReport
	f, size, err := openShared(ctx, dir)
	if err != nil {
		return rep, err
	}
	defer f.Close()
	w, err := walkFile(ctx, f, size, true, checkRecordKV)
	if err != nil {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		rep.Problems = append(rep.Problems, err.Error())
		return rep, nil
	}
	rep.Pages = w.pages
	rep.Problems = append(rep.Problems, w.damaged...)
	if err := w.pf.checkFreelist(); err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	}
	if len(rep.Problems) > 0 {
		return rep, nil
	}
	// The structure is sound: bbolt can open it safely.
	db, err := bbolt.Open(f.Name(), 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return rep, fmt.Errorf("bolt: %w", err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		rep.Problems = append(rep.Problems, checkLogic(ctx, tx, &rep)...)
		return ctx.Err()
	})
	rep.OK = err == nil && len(rep.Problems) == 0
	return rep, err
}

// checkLogic compares the stored totals, topics and index with the events.
func checkLogic(ctx context.Context, tx *bbolt.Tx, rep *CheckReport) []string {
	var probs []string
	add := func(format string, args ...any) {
		if len(probs) < 100 {
			probs = append(probs, fmt.Sprintf(format, args...))
		}
	}
	evb, meta, tb, idx := tx.Bucket(bucketEvents), tx.Bucket(bucketMeta), tx.Bucket(bucketTopics), tx.Bucket(bucketIndex)
	if evb == nil || meta == nil || tb == nil {
		add("buckets missing: not an ssehub store")
		return probs
	}
	if v := meta.Get(keyEpoch); v != nil {
		rep.Epoch = string(v)
	}
	head, _ := getU64(meta, keyHead)
	rep.Head = head
	version, _ := getU64(meta, keySchema)
	type tstat struct {
		n    int64
		last uint64
	}
	topics := map[string]*tstat{}
	var count, size int64
	var maxID uint64
	rep.First = head + 1
	c := evb.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if count%100_000 == 0 && ctx.Err() != nil {
			return probs
		}
		id := binary.BigEndian.Uint64(k)
		if count == 0 {
			rep.First = id
		}
		maxID = id
		count++
		tp, sz, _, err := recordInfo(v)
		if err != nil {
			add("event %d: %v", id, err)
			continue
		}
		size += sz
		if ssehub.IsSys(string(tp)) {
			continue
		}
		ts := topics[string(tp)]
		if ts == nil {
			ts = &tstat{}
			topics[string(tp)] = ts
		}
		ts.n++
		ts.last = id
		if version >= schema && idx != nil && idx.Get(indexKey(tp, id)) == nil {
			add("event %d (topic %q) has no index entry", id, tp)
		}
	}
	rep.Events, rep.Topics = count, int64(len(topics))
	if maxID > head {
		add("event %d is past the stored head %d", maxID, head)
	}
	if version < schema {
		return probs // an older file: no count or index yet, built on the next open
	}
	if n, _ := getU64(meta, keyCount); int64(n) != count {
		add("the stored event count is %d, the log holds %d", n, count)
	}
	if b, _ := getU64(meta, keyBytes); int64(b) != size {
		add("the stored byte total is %d, the events take %d", b, size)
	}
	_ = tb.ForEach(func(k, v []byte) error {
		ts := topics[string(k)]
		switch {
		case len(v) != 16:
			add("topic %q: a value of %d bytes", k, len(v))
		case ts == nil:
			add("topic %q is listed with %d events, the log holds none", k, binary.BigEndian.Uint64(v))
		case int64(binary.BigEndian.Uint64(v)) != ts.n || binary.BigEndian.Uint64(v[8:]) != ts.last:
			add("topic %q: stored %d events, last %d; the log holds %d, last %d", k,
				binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]), ts.n, ts.last)
		}
		return nil
	})
	for t := range topics {
		if tb.Get([]byte(t)) == nil {
			add("topic %q has events but is not listed", t)
		}
	}
	if idx != nil {
		var n int64
		_ = idx.ForEach(func(k, _ []byte) error {
			n++
			if len(k) < 10 || k[len(k)-9] != 0 || evb.Get(k[len(k)-8:]) == nil {
				add("index entry %q points to no event", k)
			}
			return nil
		})
		var want int64
		for _, ts := range topics {
			want += ts.n
		}
		if n != want {
			add("the index holds %d entries for %d events", n, want)
		}
	}
	return probs
}

// SalvageReport is what Salvage saved and skipped.
type SalvageReport struct {
	// Events were copied with their ids, topics and fields; Orphans of
	// them were found on pages no tree reached any longer (under a damaged
	// branch page).
	Events, Orphans int
	// KVBuckets and KVKeys were copied from the kv buckets, DedupeKeys
	// from the idempotency keys.
	KVBuckets, KVKeys, DedupeKeys int
	// First and Head are the new log's; Head is the old head when it could
	// be read, else the last saved id.
	First, Head uint64
	// Epoch is the new log's. It is the old one when nothing was skipped,
	// else a new one, so that clients can tell that events are missing.
	Epoch string
	// Skipped describes each damaged page or record that was left out.
	Skipped []string
}

// Salvage copies every readable event (with its id, topic and fields), the
// kv buckets, the idempotency keys and the head from the store in dir into
// a new store in out, rebuilding the topics and the index. It reads the
// damaged file with bounds-checked reads only, never through bbolt, so no
// damage can crash it; it skips what it cannot read and reports it. out
// must not hold a store yet.
func Salvage(ctx context.Context, dir, out string) (SalvageReport, error) {
	var rep SalvageReport
	dst := filepath.Join(out, FileName)
	if _, err := os.Stat(dst); err == nil {
		return rep, fmt.Errorf("bolt: salvage: %s exists; give an empty directory", dst)
	}
	f, size, err := openShared(ctx, dir)
	if err != nil {
		return rep, err
	}
	defer f.Close()
	if err := os.MkdirAll(out, 0o700); err != nil {
		return rep, fmt.Errorf("bolt: salvage: %w", err)
	}
	db, err := bbolt.Open(dst, 0o600, &bbolt.Options{NoSync: true, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType, Timeout: time.Second})
	if err != nil {
		return rep, fmt.Errorf("bolt: salvage: %w", err)
	}
	s := &salvager{db: db, topics: map[string]*ssehub.TopicInfo{}, meta: map[string][]byte{}, kv: map[string]bool{}}
	err = s.run(ctx, f, size, &rep)
	if err == nil {
		err = s.finish(&rep)
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return rep, fmt.Errorf("bolt: salvage: %w", err)
	}
	return rep, nil
}

type salvageKV struct {
	bucket, k, v []byte
}

type salvager struct {
	db      *bbolt.DB
	pending []salvageKV
	saved   []uint64 // ids saved, ascending within the tree walk
	topics  map[string]*ssehub.TopicInfo
	meta    map[string][]byte
	kv      map[string]bool
	count   int64
	bytes   int64
	minID   uint64
	maxID   uint64
	err     error
}

// event queues one event record, if it is sound.
func (s *salvager) event(id uint64, v []byte, rep *SalvageReport) bool {
	if _, err := body(v, true); err != nil {
		rep.Skipped = append(rep.Skipped, fmt.Sprintf("event %d: damaged record (%v)", id, err))
		return false
	}
	tp, size, _, err := recordInfo(v)
	if err != nil {
		rep.Skipped = append(rep.Skipped, fmt.Sprintf("event %d: damaged record (%v)", id, err))
		return false
	}
	s.put(bucketEvents, itob(id), v)
	if !ssehub.IsSys(string(tp)) {
		s.put(bucketIndex, indexKey(tp, id), nil)
		ti := s.topics[string(tp)]
		if ti == nil {
			ti = &ssehub.TopicInfo{Topic: string(tp)}
			s.topics[ti.Topic] = ti
		}
		ti.Events++
		ti.LastID = max(ti.LastID, id)
	}
	if s.count == 0 || id < s.minID {
		s.minID = id
	}
	s.maxID = max(s.maxID, id)
	s.count++
	s.bytes += size
	s.saved = append(s.saved, id)
	rep.Events++
	return true
}

func (s *salvager) put(bucket, k, v []byte) {
	s.pending = append(s.pending, salvageKV{bucket, append([]byte(nil), k...), append([]byte(nil), v...)})
	if len(s.pending) >= 20_000 {
		s.flush()
	}
}

func (s *salvager) flush() {
	if s.err != nil || len(s.pending) == 0 {
		s.pending = s.pending[:0]
		return
	}
	s.err = s.db.Update(func(tx *bbolt.Tx) error {
		for _, p := range s.pending {
			b, err := tx.CreateBucketIfNotExists(p.bucket)
			if err != nil {
				return err
			}
			if err := b.Put(p.k, p.v); err != nil {
				return err
			}
		}
		return nil
	})
	s.pending = s.pending[:0]
}

func (s *salvager) run(ctx context.Context, f *os.File, size int64, rep *SalvageReport) error {
	kv := func(path []string, k, v []byte) error {
		if len(path) != 1 {
			return nil
		}
		switch name := path[0]; {
		case name == string(bucketEvents):
			if len(k) == 8 {
				s.event(binary.BigEndian.Uint64(k), v, rep)
			}
		case name == string(bucketMeta):
			s.meta[string(k)] = append([]byte(nil), v...)
		case name == string(bucketDedupe):
			if len(v) == 16 {
				s.put(bucketDedupe, k, v)
				rep.DedupeKeys++
			}
		case strings.HasPrefix(name, "kv/"):
			s.kv[name] = true
			s.put([]byte(name), k, v)
			rep.KVKeys++
		}
		return nil
	}
	w, err := walkFile(ctx, f, size, true, kv)
	var pf *pageFile
	var reached []uint64
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		// No usable meta page: no tree to follow. Every page is an
		// orphan; guess the usual page size.
		rep.Skipped = append(rep.Skipped, err.Error())
		pf = &pageFile{r: f, size: size, pageSize: os.Getpagesize(), meta: metaPage{pgid: uint64(size) / uint64(os.Getpagesize())}}
	} else {
		pf, reached = w.pf, w.reached
		rep.Skipped = append(rep.Skipped, w.damaged...)
	}
	s.flush()
	rep.KVBuckets = len(s.kv)
	// Orphans: leaf pages of event records that no tree reaches, when the
	// walk found damage. Only ids inside the retained range [first, head]
	// count, since pages freed by retention may hold removed events.
	if len(rep.Skipped) > 0 {
		lo, hi := uint64(1), ^uint64(0)
		if v := s.meta[string(keyFirst)]; len(v) == 8 {
			lo = binary.BigEndian.Uint64(v)
		} else if s.count > 0 {
			lo = s.minID
		}
		if v := s.meta[string(keyHead)]; len(v) == 8 {
			hi = binary.BigEndian.Uint64(v)
		}
		sort.Slice(s.saved, func(i, j int) bool { return s.saved[i] < s.saved[j] })
		known := append([]uint64(nil), s.saved...)
		extra := map[uint64]bool{}
		has := func(id uint64) bool {
			i := sort.Search(len(known), func(i int) bool { return known[i] >= id })
			return i < len(known) && known[i] == id || extra[id]
		}
		last := min(pf.meta.pgid, uint64(size)/uint64(pf.pageSize))
		for id := uint64(2); id < last; id++ {
			if id%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if reached != nil && reached[id/64]&(1<<(id%64)) != 0 {
				continue
			}
			p, err := pf.readPage(id)
			if err != nil || p.flags != flagLeaf || elems(p.b, p.count) != nil {
				continue
			}
			for i := 0; i < p.count; i++ {
				flags, k, v, err := leafElem(p.b, i)
				if err != nil || flags != 0 || len(k) != 8 || len(v) < recordHeader || v[0] != 0 {
					continue // only checksummed records are trusted from an orphan page
				}
				eid := binary.BigEndian.Uint64(k)
				if eid < lo || eid > hi || has(eid) {
					continue
				}
				if _, err := body(v, true); err != nil {
					continue
				}
				if s.event(eid, v, rep) {
					extra[eid] = true
					rep.Orphans++
				}
			}
		}
	}
	s.flush()
	return s.err
}

// finish writes the topics, the totals, the head and the epoch.
func (s *salvager) finish(rep *SalvageReport) error {
	head := s.maxID
	if v := s.meta[string(keyHead)]; len(v) == 8 {
		head = max(head, binary.BigEndian.Uint64(v))
	}
	epoch := string(s.meta[string(keyEpoch)])
	if len(rep.Skipped) > 0 || epoch == "" {
		epoch = newEpoch()
	}
	rep.Head, rep.Epoch = head, epoch
	rep.First = head + 1
	if s.count > 0 {
		rep.First = s.minID
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketEvents, bucketMeta, bucketTopics, bucketIndex, bucketDedupe} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		tb := tx.Bucket(bucketTopics)
		for _, ti := range s.topics {
			if err := tb.Put([]byte(ti.Topic), topicValue(ti.Events, ti.LastID)); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		for k, v := range map[string]uint64{"head": head, "bytes": uint64(s.bytes), "count": uint64(s.count), "first": rep.First, "schema": schema} {
			if err := meta.Put([]byte(k), itob(v)); err != nil {
				return err
			}
		}
		return meta.Put(keyEpoch, []byte(epoch))
	})
	if err != nil {
		return err
	}
	return s.db.Sync()
}
