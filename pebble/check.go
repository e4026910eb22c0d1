package pebble

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cpebble "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// CheckReport is what Check found.
type CheckReport struct {
	// OK reports that the store is sound: pebble opens it and reads every
	// key (each block's checksum verified), every record decodes, and the
	// counts, byte total, head, topic entries and per-topic index agree
	// with the events.
	OK bool
	// Problems lists what is wrong, one finding a line (at most
	// maxProblems; a last line says how many more there were).
	Problems []string
	// Events, Topics, Bytes, First, Head and Epoch describe the log as
	// stored.
	Events, Topics, Bytes int64
	First, Head           uint64
	Epoch                 string
}

// maxProblems bounds CheckReport.Problems, so that a store damaged
// everywhere does not print millions of lines.
const maxProblems = 100

// topicStat is what the events of one topic add up to.
type topicStat struct {
	count int64
	last  uint64
}

// Check examines the store in dir without changing it, as ssehub check
// does for bolt: it opens it read-only under pebble's directory lock (so
// never while a hub runs on it), reads every key, and checks that the
// meta keys (epoch, layout, head, count, bytes, first), the topic entries
// and the per-topic index agree with the event records. It fails only when
// it cannot get at the store (missing, or in use); damage, including a
// store pebble refuses to open as corrupt, is reported in CheckReport.
func Check(ctx context.Context, dir string) (rep CheckReport, err error) {
	defer func() {
		// pebble calls its logger's Fatalf on some damage (a table block
		// whose checksum fails): for a check that is a finding.
		r := recover()
		if r == nil {
			return
		}
		f, ok := r.(checkFatal)
		if !ok {
			panic(r)
		}
		msg, _, _ := strings.Cut(string(f), "\n") // the first line; a stack trace follows
		rep.OK, err = false, nil
		rep.Problems = append(rep.Problems, "pebble stopped reading the store: "+msg)
	}()
	path := filepath.Join(dir, DirName)
	if _, err := os.Stat(path); err != nil {
		return rep, fmt.Errorf("pebble: %w", err)
	}
	var lock *cpebble.Lock
	lock, err = lockDir(ctx, vfs.Default, path, time.Second)
	if err != nil {
		return rep, fmt.Errorf("pebble: data directory %s: %w", dir, err)
	}
	defer lock.Close()
	db, err := cpebble.Open(path, &cpebble.Options{ReadOnly: true, Lock: lock, Logger: checkLogger{}})
	if err != nil {
		if cpebble.IsCorruptionError(err) {
			rep.Problems = append(rep.Problems, fmt.Sprintf("pebble cannot open the store: %v", err))
			return rep, nil
		}
		return rep, fmt.Errorf("pebble: open %s: %w", path, err)
	}
	defer db.Close()
	c := &checker{db: db, rep: &rep, topics: map[string]*topicStat{}}
	if err := c.run(ctx); err != nil {
		return rep, err
	}
	if n := len(rep.Problems); n > maxProblems {
		rep.Problems = append(rep.Problems[:maxProblems], fmt.Sprintf("… and %d more", n-maxProblems))
	}
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

// checkFatal is what checkLogger panics with.
type checkFatal string

// checkLogger drops pebble's logs and turns a fatal one into a panic that
// Check recovers, where the store's own logger would exit the process.
type checkLogger struct{}

func (checkLogger) Infof(string, ...any)  {}
func (checkLogger) Errorf(string, ...any) {}
func (checkLogger) Fatalf(format string, args ...any) {
	panic(checkFatal(fmt.Sprintf(format, args...)))
}

// checker holds one Check's state.
type checker struct {
	db     *cpebble.DB
	rep    *CheckReport
	topics map[string]*topicStat
}

func (c *checker) problem(format string, args ...any) {
	c.rep.Problems = append(c.rep.Problems, fmt.Sprintf(format, args...))
}

func (c *checker) get(key []byte) ([]byte, bool) {
	v, closer, err := c.db.Get(key)
	if errors.Is(err, cpebble.ErrNotFound) {
		return nil, false
	}
	if err != nil {
		c.problem("reading key %q: %v", key, err)
		return nil, false
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, true
}

func (c *checker) run(ctx context.Context) error {
	meta := c.meta()
	if err := c.events(ctx); err != nil {
		return err
	}
	c.rep.Topics = int64(len(c.topics))
	switch {
	case meta.count != c.rep.Events:
		c.problem("the event count says %d, the log holds %d events", meta.count, c.rep.Events)
	case meta.bytes != c.rep.Bytes:
		c.problem("the byte total says %d, the events add up to %d", meta.bytes, c.rep.Bytes)
	}
	if c.rep.Events > 0 && meta.first != 0 && meta.first != c.rep.First {
		c.problem("the first id says %d, the oldest event is %d", meta.first, c.rep.First)
	}
	if c.rep.Head > meta.head {
		c.problem("the head says %d, an event has id %d: ids would be reused", meta.head, c.rep.Head)
	}
	c.rep.Head = max(c.rep.Head, meta.head)
	if err := c.index(ctx); err != nil {
		return err
	}
	return c.topicEntries(ctx)
}

type metaValues struct {
	head, first uint64
	count       int64
	bytes       int64
}

// meta reads and checks the meta keys.
func (c *checker) meta() metaValues {
	var m metaValues
	if v, ok := c.get(keyEpoch); !ok || len(v) == 0 {
		c.problem("no epoch: not an ssehub pebble store, or its first commit was lost")
	} else {
		c.rep.Epoch = string(v)
	}
	if v, ok := c.get(keySchema); !ok {
		c.problem("no layout version")
	} else if s, ok := u64(v); !ok || s != schema {
		c.problem("layout version %x, this build reads %d", v, schema)
	}
	num := func(key []byte, name string) uint64 {
		v, ok := c.get(key)
		if !ok {
			return 0 // a store that never committed an event has none
		}
		n, ok := u64(v)
		if !ok {
			c.problem("the %s is %d bytes, not 8", name, len(v))
		}
		return n
	}
	m.head = num(keyHead, "head")
	m.first = num(keyFirst, "first id")
	m.count = int64(num(keyCount, "event count"))
	m.bytes = int64(num(keyBytes, "byte total"))
	return m
}

// events reads every event record.
func (c *checker) events(ctx context.Context) error {
	it, err := c.db.NewIter(&cpebble.IterOptions{LowerBound: []byte{prefixEvent}, UpperBound: []byte{prefixEvent + 1}})
	if err != nil {
		return fmt.Errorf("pebble: %w", err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		id, ok := eventID(it.Key())
		if !ok {
			c.problem("a malformed event key %x", it.Key())
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			c.problem("event %d: reading its record: %v", id, err)
			continue
		}
		topic, size, _, err := recordInfo(v)
		if err == nil {
			_, err = decodeOwned(id, v)
		}
		if err != nil {
			c.problem("event %d: its record does not decode: %v", id, err)
			continue
		}
		if c.rep.Events == 0 {
			c.rep.First = id
		}
		c.rep.Events++
		c.rep.Bytes += size
		c.rep.Head = id
		st := c.topics[string(topic)]
		if st == nil {
			st = &topicStat{}
			c.topics[string(topic)] = st
		}
		st.count++
		st.last = id
	}
	if err := it.Error(); err != nil {
		c.problem("reading the events stopped: %v", err)
	}
	return nil
}

// index checks that every index entry names an event of its topic, and
// that each topic has as many entries as events.
func (c *checker) index(ctx context.Context) error {
	it, err := c.db.NewIter(&cpebble.IterOptions{LowerBound: []byte{prefixIndex}, UpperBound: []byte{prefixIndex + 1}})
	if err != nil {
		return fmt.Errorf("pebble: %w", err)
	}
	defer it.Close()
	entries := map[string]int64{}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		k := it.Key()
		nul := bytes.IndexByte(k, 0)
		if nul < 1 || len(k)-nul-1 != 8 {
			c.problem("a malformed index key %x", k)
			continue
		}
		topic := string(k[1:nul])
		id, _ := u64(k[nul+1:])
		entries[topic]++
		v, ok := c.get(eventKey(id))
		if !ok {
			c.problem("topic %q: the index names event %d, which the log does not hold", topic, id)
			continue
		}
		if t, _, err := topicOf(v); err == nil && string(t) != topic {
			c.problem("topic %q: the index names event %d, which is on topic %q", topic, id, t)
		}
	}
	if err := it.Error(); err != nil {
		c.problem("reading the index stopped: %v", err)
	}
	for topic, st := range c.topics {
		if entries[topic] != st.count {
			c.problem("topic %q: %d events, %d index entries", topic, st.count, entries[topic])
		}
	}
	return nil
}

// topicEntries checks each topic's retained count and last id.
func (c *checker) topicEntries(ctx context.Context) error {
	it, err := c.db.NewIter(&cpebble.IterOptions{LowerBound: []byte{prefixTopic}, UpperBound: []byte{prefixTopic + 1}})
	if err != nil {
		return fmt.Errorf("pebble: %w", err)
	}
	defer it.Close()
	seen := map[string]bool{}
	for ok := it.First(); ok; ok = it.Next() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		topic := string(it.Key()[1:])
		seen[topic] = true
		v, err := it.ValueAndErr()
		if err != nil || len(v) != 16 {
			c.problem("topic %q: a malformed topic entry (%d bytes, %v)", topic, len(v), err)
			continue
		}
		count, _ := u64(v[:8])
		last, _ := u64(v[8:])
		st := c.topics[topic]
		if st == nil {
			if count != 0 {
				c.problem("topic %q: the topic entry counts %d events, the log holds none", topic, count)
			}
			continue
		}
		if int64(count) != st.count {
			c.problem("topic %q: the topic entry counts %d events, the log holds %d", topic, count, st.count)
		}
		if last != st.last {
			c.problem("topic %q: the topic entry's last id is %d, the newest event is %d", topic, last, st.last)
		}
	}
	if err := it.Error(); err != nil {
		c.problem("reading the topic entries stopped: %v", err)
	}
	for topic := range c.topics {
		if !seen[topic] {
			c.problem("topic %q has events but no topic entry", topic)
		}
	}
	return nil
}
