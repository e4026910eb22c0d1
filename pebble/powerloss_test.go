package pebble

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/ssehub/ssehub"
)

// TestPowerLossKeepsWhatWasShown cuts the power at a random moment, on a
// file system that then loses every write not synced (pebble's crashable
// in-memory one), while 8 goroutines append and a follower, a topics
// reader and a Last reader watch. Every event acknowledged, passed to the
// follower or shown as a topic's last before the cut is in the store
// opened on what was left: the pipeline acknowledges and shows only what
// is synced. A kill -9 cannot test this, as the kernel keeps what was
// written.
func TestPowerLossKeepsWhatWasShown(t *testing.T) {
	rounds := 6
	if testing.Short() {
		rounds = 2
	}
	defer func() { testFS = nil }()
	for round := range rounds {
		fs := vfs.NewCrashableMem()
		testFS = slowSyncFS{fs}
		l, err := Open("/data", Options{DedupeWindow: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex // held while the power is cut: what is recorded was shown before
		shown := map[uint64]string{}
		var shownN int
		lastShown := map[string]uint64{} // topic -> a last id Topics or Last showed
		record := func(id uint64, data string) {
			mu.Lock()
			shown[id] = data
			shownN++
			mu.Unlock()
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				n := 1 + (g%2)*9 // single events and batches of 10
				for i := 0; ctx.Err() == nil; i++ {
					evs := make([]*ssehub.Event, n)
					for j := range evs {
						evs[j] = &ssehub.Event{Topic: fmt.Sprint("p.", g), Data: fmt.Appendf(nil, "%d-%d-%d", g, i, j)}
						if g == 0 && i%3 == 0 {
							evs[j].Key = fmt.Sprint("k", i/6) // every other one a duplicate
						}
					}
					res, err := l.Append(ctx, evs)
					if err != nil {
						return
					}
					for j, r := range res {
						if !r.Duplicate {
							record(r.ID, string(evs[j].Data))
						}
					}
				}
			})
		}
		wg.Go(func() {
			_ = l.Follow(ctx, 0, func(ev *ssehub.Event) error {
				record(ev.ID, string(ev.Data))
				return nil
			})
		})
		wg.Go(func() {
			for ctx.Err() == nil {
				infos, err := l.Topics(ctx, "", 0)
				if err != nil {
					return
				}
				last, err := l.Last(ctx, "p.1")
				mu.Lock()
				for _, ti := range infos {
					lastShown[ti.Topic] = max(lastShown[ti.Topic], ti.LastID)
				}
				if err == nil {
					lastShown["p.1"] = max(lastShown["p.1"], last.ID)
				}
				mu.Unlock()
			}
		})
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
			mu.Lock()
			n := shownN
			mu.Unlock()
			if n >= 50 || time.Now().After(deadline) {
				break
			}
		}
		time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
		mu.Lock()
		cut := fs.CrashClone(vfs.CrashCloneCfg{}) // exactly what was synced
		want := make(map[uint64]string, len(shown))
		for id, d := range shown {
			want[id] = d
		}
		wantLast := make(map[string]uint64, len(lastShown))
		for k, v := range lastShown {
			wantLast[k] = v
		}
		mu.Unlock()
		cancel()
		wg.Wait()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if len(want) < 10 {
			t.Fatalf("round %d: only %d events shown before the cut", round, len(want))
		}

		testFS = cut
		l, err = Open("/data", Options{})
		if err != nil {
			t.Fatalf("round %d: open after the cut: %v", round, err)
		}
		stored := map[uint64]*ssehub.Event{}
		if err := l.Read(context.Background(), 0, ssehub.All(), func(e *ssehub.Event) error {
			cp := *e
			cp.Data = append([]byte(nil), e.Data...)
			stored[e.ID] = &cp
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for id, d := range want {
			if e, ok := stored[id]; !ok || string(e.Data) != d {
				var mx uint64
				for id := range want {
					mx = max(mx, id)
				}
				t.Fatalf("round %d: event %d (%s) was shown before the cut, after it: present %v (stored %d, shown %d, max shown %d)", round, id, d, ok, len(stored), len(want), mx)
			}
		}
		for topic, id := range wantLast {
			if e, ok := stored[id]; !ok || e.Topic != topic {
				t.Fatalf("round %d: topic %s showed last id %d before the cut; after it: present %v", round, topic, id, ok)
			}
			ti, err := l.Topic(context.Background(), topic)
			if err != nil || ti.LastID < id {
				t.Fatalf("round %d: topic %s after the cut: %+v, %v; showed last id %d before", round, topic, ti, err, id)
			}
		}
		p, _ := l.Bounds(context.Background())
		if p.Head != uint64(len(stored)) {
			t.Fatalf("round %d: head %d, %d stored", round, p.Head, len(stored))
		}
		t.Logf("round %d: %d shown (%d times), %d synced before the cut", round, len(want), shownN, len(stored))
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// slowSyncFS makes every file sync take 200 µs longer (before it syncs),
// as a disk's would: a power cut then often falls into a sync.
type slowSyncFS struct{ vfs.FS }

type slowSyncFile struct{ vfs.File }

const syncDelay = 200 * time.Microsecond

func (f slowSyncFile) Sync() error {
	time.Sleep(syncDelay)
	return f.File.Sync()
}

func (f slowSyncFile) SyncData() error {
	time.Sleep(syncDelay)
	return f.File.SyncData()
}

func (fs slowSyncFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	if err != nil {
		return nil, err
	}
	return slowSyncFile{f}, nil
}

func (fs slowSyncFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, c, opts...)
	if err != nil {
		return nil, err
	}
	return slowSyncFile{f}, nil
}

func (fs slowSyncFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	if err != nil {
		return nil, err
	}
	return slowSyncFile{f}, nil
}

// BenchmarkAppendSlowSync: BenchmarkAppend (32 goroutines, one event per
// Append) on an in-memory file system whose syncs take 200 µs, so that
// pipeline designs compare without the shared disk's noise.
func BenchmarkAppendSlowSync(b *testing.B) {
	testFS = slowSyncFS{vfs.NewMem()}
	defer func() { testFS = nil }()
	l, err := Open("/data", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(context.Background(), []*ssehub.Event{{Topic: "bench", Data: make([]byte, 64)}}); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// failSyncFS fails every file sync once armed.
type failSyncFS struct {
	vfs.FS
	armed *atomic.Bool
}

type failSyncFile struct {
	vfs.File
	armed *atomic.Bool
}

var errSync = errors.New("test: sync failed")

func (f failSyncFile) Sync() error {
	if f.armed.Load() {
		return errSync
	}
	return f.File.Sync()
}

func (f failSyncFile) SyncData() error {
	if f.armed.Load() {
		return errSync
	}
	return f.File.SyncData()
}

func (fs failSyncFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	if err != nil {
		return nil, err
	}
	return failSyncFile{f, fs.armed}, nil
}

func (fs failSyncFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	if err != nil {
		return nil, err
	}
	return failSyncFile{f, fs.armed}, nil
}

// TestSyncFailureStopsTheStore: once a WAL sync fails, the appends of that
// group and every later one fail, nothing more is passed to followers, the
// durable head stays, and Close still returns.
func TestSyncFailureStopsTheStore(t *testing.T) {
	armed := new(atomic.Bool)
	testFS = failSyncFS{vfs.NewMem(), armed}
	defer func() { testFS = nil }()
	l, err := Open("/data", Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), []*ssehub.Event{{Topic: "a", Data: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	followed := make(chan uint64, 16)
	done := make(chan error, 1)
	go func() {
		done <- l.Follow(ctx, 0, func(ev *ssehub.Event) error { followed <- ev.ID; return nil })
	}()
	if id := <-followed; id != 1 {
		t.Fatalf("followed %d, want 1", id)
	}
	armed.Store(true)
	for i := range 3 {
		if _, err := l.Append(context.Background(), []*ssehub.Event{{Topic: "a", Data: []byte("2")}}); !errors.Is(err, errFailed) {
			t.Fatalf("append %d after the failed sync: %v, want errFailed", i, err)
		}
	}
	if p, _ := l.Bounds(context.Background()); p.Head != 1 {
		t.Fatalf("head %d after the failed sync, want 1", p.Head)
	}
	if ti, err := l.Topic(context.Background(), "a"); err != nil || ti.Events != 1 || ti.LastID != 1 {
		t.Fatalf("topic after the failed sync: %+v %v", ti, err)
	}
	select {
	case id := <-followed:
		t.Fatalf("followed %d after the failed sync", id)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	<-done
	armed.Store(false)
	_ = l.Close()
}
