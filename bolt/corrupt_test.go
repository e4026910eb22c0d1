package bolt

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"

	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
)

var bgc = context.Background()

// fixture writes a store of n events over 5 topics (every 10th with an
// idempotency key), a kv bucket, and closes it.
func fixture(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 500 {
		evs := make([]*ssehub.Event, min(500, n-i))
		for j := range evs {
			id := i + j + 1
			evs[j] = &ssehub.Event{Topic: fmt.Sprint("c.", id%5), Type: "t", Data: []byte(fmt.Sprintf("event-%06d-%s", id, strings.Repeat("x", id%90)))}
			if id%10 == 0 {
				evs[j].Key = fmt.Sprint("k", id)
			}
		}
		if _, err := l.Append(bgc, evs); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Put(bgc, "tokens", "t1", []byte("secret-hash")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// eventPages returns the events bucket's leaf pages (with the ids they
// hold) and branch pages of the store in dir.
func eventPages(t *testing.T, dir string) (leaves map[uint64][]uint64, branches []uint64, pageSize int) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	leaves = map[uint64][]uint64{}
	pf, err := openPages(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	w := &walker{ctx: bgc, pf: pf, reached: make([]uint64, pf.meta.pgid/64+1)}
	w.onPage = func(path []string, p *page) {
		if len(path) != 1 || path[0] != string(bucketEvents) {
			return
		}
		if p.flags == flagBranch {
			branches = append(branches, p.id)
			return
		}
		for i := 0; i < p.count; i++ {
			_, k, _, _ := leafElem(p.b, i)
			leaves[p.id] = append(leaves[p.id], binary.BigEndian.Uint64(k))
		}
	}
	if err := w.walkBucket(nil, pf.meta.root, 0); err != nil {
		t.Fatal(err)
	}
	return leaves, branches, pf.pageSize
}

// usedEnd returns the end of the last key or value of page b.
func usedEnd(b []byte) int {
	count := int(ne.Uint16(b[10:]))
	end := pageHeaderSize + count*elemSize
	for i := 0; i < count; i++ {
		off := pageHeaderSize + i*elemSize
		if ne.Uint16(b[8:]) == flagBranch {
			end = max(end, off+int(ne.Uint32(b[off:]))+int(ne.Uint32(b[off+4:])))
		} else {
			end = max(end, off+int(ne.Uint32(b[off+4:]))+int(ne.Uint32(b[off+8:]))+int(ne.Uint32(b[off+12:])))
		}
	}
	return end
}

func copyStore(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	b, err := os.ReadFile(filepath.Join(src, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// damage changes the file of dir with fn, which gets the whole file.
func damage(t *testing.T, dir string, fn func(b []byte) []byte) {
	t.Helper()
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// randomBytes overwrites n bytes of page id at a random offset in [from, to).
func randomBytes(r *rand.Rand, pageSize int, id uint64, from, to, n int) func([]byte) []byte {
	return func(b []byte) []byte {
		off := int(id)*pageSize + from + r.IntN(max(to-from-n, 1))
		for i := 0; i < n; i++ {
			b[off+i] = byte(r.Uint32())
		}
		return b
	}
}

func setFlags(pageSize int, id uint64, flags uint16) func([]byte) []byte {
	return func(b []byte) []byte {
		ne.PutUint16(b[int(id)*pageSize+8:], flags)
		return b
	}
}

const corruptDirsEnv = "SSEHUB_BOLT_CORRUPT_DIRS"

// digest returns the count and a hash of every event of l.
func digest(l *Log) (string, error) {
	h := fnv.New64a()
	n := 0
	err := l.Read(bgc, 0, ssehub.All(), func(e *ssehub.Event) error {
		n++
		fmt.Fprintf(h, "%d %s %s %s %s %d|", e.ID, e.Topic, e.Type, e.Key, e.Data, e.Time.UnixNano())
		return nil
	})
	return fmt.Sprintf("%d:%x", n, h.Sum64()), err
}

// TestCorruptChild opens each directory of corruptDirsEnv in turn and
// prints "DIR\tok N" or "DIR\terr MESSAGE". It exits 0 only if it got
// through all of them: a panic or a fault in any open ends it early.
func TestCorruptChild(t *testing.T) {
	dirs := os.Getenv(corruptDirsEnv)
	if dirs == "" {
		t.Skip("only run as the child of TestCorruptFilesNeverCrash")
	}
	out := bufio.NewWriter(os.Stdout)
	for _, dir := range strings.Split(dirs, "\n") {
		l, err := Open(dir, Options{NoSync: true, OpenTimeout: time.Second})
		if err != nil {
			fmt.Fprintf(out, "%s\terr %s\n", dir, strings.ReplaceAll(err.Error(), "\n", " "))
			out.Flush()
			continue
		}
		sum, err := digest(l)
		l.Close()
		if err != nil {
			fmt.Fprintf(out, "%s\treaderr %v\n", dir, err)
		} else {
			fmt.Fprintf(out, "%s\tok %s\n", dir, sum)
		}
		out.Flush()
	}
	fmt.Fprintln(out, "done")
	out.Flush()
	os.Exit(0)
}

// TestCorruptFilesNeverCrash is the regression test of "a corrupted or
// truncated bolt file crashes serve with a Go panic": files truncated to
// half, with random bytes in the used part of data pages (leaf and branch,
// header and body), with flipped page flags, random files, zero files and
// short files are all opened, in a child process of the test binary so
// that a panic in one of bbolt's goroutines (which nothing can recover)
// would show as the child's death. Every one must give a clear error
// naming the damage. Before the fix the child died of bbolt's
// "freepages: failed to get all reachable pages" panic or a fault.
func TestCorruptFilesNeverCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	good := fixture(t, 6000)
	leaves, branches, ps := eventPages(t, good)
	if len(branches) == 0 || len(leaves) < 20 {
		t.Fatalf("the fixture has %d leaf and %d branch pages: too small", len(leaves), len(branches))
	}
	var leafIDs []uint64
	for id := range leaves {
		leafIDs = append(leafIDs, id)
	}
	r := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	cases := map[string]func([]byte) []byte{
		"truncated to half": func(b []byte) []byte { return b[:len(b)/2] },
		"truncated into its last page": func(b []byte) []byte {
			m, _ := parseMeta(b[ps+pageHeaderSize:])
			if m0, ok := parseMeta(b[pageHeaderSize:]); ok && m0.txid > m.txid {
				m = m0
			}
			return b[:(int(m.pgid)-1)*ps+100]
		},
		"random file": func(b []byte) []byte {
			x := make([]byte, 64<<10)
			for i := range x {
				x[i] = byte(r.Uint32())
			}
			return x
		},
		"zeros":      func(b []byte) []byte { return make([]byte, 16<<10) },
		"short":      func(b []byte) []byte { return b[:100] },
		"both metas": func(b []byte) []byte { b[20] ^= 0xff; b[ps+20] ^= 0xff; return b },
	}
	for i := 0; i < 8; i++ {
		id := leafIDs[r.IntN(len(leafIDs))]
		b, _ := os.ReadFile(filepath.Join(good, FileName))
		end := usedEnd(b[int(id)*ps : int(id+1)*ps])
		cases[fmt.Sprintf("random bytes in leaf page %d", id)] = randomBytes(r, ps, id, pageHeaderSize, end, 32)
		cases[fmt.Sprintf("one flipped bit in leaf page %d", id)] = func(b []byte) []byte {
			off := int(id)*ps + pageHeaderSize + r.IntN(end-pageHeaderSize)
			b[off] ^= 1 << r.IntN(8)
			return b
		}
	}
	for i, id := range branches {
		b, _ := os.ReadFile(filepath.Join(good, FileName))
		end := usedEnd(b[int(id)*ps : int(id+1)*ps])
		cases[fmt.Sprintf("random bytes in branch page %d", id)] = randomBytes(r, ps, id, pageHeaderSize, end, 16)
		cases[fmt.Sprintf("random header of branch page %d", id)] = randomBytes(r, ps, id, 0, pageHeaderSize, 16)
		cases[fmt.Sprintf("branch page %d flagged leaf", id)] = setFlags(ps, id, flagLeaf)
		if i > 2 {
			break
		}
	}
	for i, fl := range []uint16{flagBranch, flagMeta, flagFreelist, 0, 0x03, 0xffff} {
		id := leafIDs[i]
		cases[fmt.Sprintf("leaf page %d flagged %#x", id, fl)] = setFlags(ps, id, fl)
	}
	var dirs []string
	name := map[string]string{}
	for c, fn := range cases {
		d := copyStore(t, good)
		damage(t, d, fn)
		dirs = append(dirs, d)
		name[d] = c
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCorruptChild$")
	cmd.Env = append(os.Environ(), corruptDirsEnv+"="+strings.Join(dirs, "\n"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	outp, err := cmd.Output()
	if err != nil || !strings.HasSuffix(string(outp), "done\n") {
		t.Fatalf("the child opening damaged files died (%v):\n%s\n%s", err, outp, stderr.String())
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(outp)), "\n") {
		if d, res, ok := strings.Cut(line, "\t"); ok {
			got[d] = res
		}
	}
	l, err := Open(good, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	intact, _ := digest(l)
	l.Close()
	for _, d := range dirs {
		res := got[d]
		if strings.HasPrefix(name[d], "one flipped bit") && res == "ok "+intact {
			// A bit nobody reads (e.g. an unused bit of an element's
			// flags): the store is whole, and it opened.
			t.Logf("%s: harmless, the store opened whole", name[d])
			continue
		}
		if !strings.HasPrefix(res, "err ") || !strings.Contains(res, d) {
			t.Errorf("%s: %q, want an error naming the file", name[d], res)
			continue
		}
		t.Logf("%s: %s", name[d], strings.TrimPrefix(res, "err "+"bolt: "))
	}
}

// TestCheck: an intact store checks OK; a damaged one lists the damage.
func TestCheck(t *testing.T) {
	good := fixture(t, 3000)
	rep, err := Check(bgc, good)
	if err != nil || !rep.OK || rep.Events != 3000 || rep.Topics != 5 || rep.Head != 3000 || rep.First != 1 || rep.Epoch == "" {
		t.Fatalf("intact store: %+v %v", rep, err)
	}
	leaves, _, ps := eventPages(t, good)
	bad := copyStore(t, good)
	for id := range leaves {
		damage(t, bad, func(b []byte) []byte {
			end := usedEnd(b[int(id)*ps : int(id+1)*ps])
			b[int(id)*ps+end-3] ^= 0x55 // the last record's data
			return b
		})
		break
	}
	rep, err = Check(bgc, bad)
	if err != nil || rep.OK || len(rep.Problems) == 0 || !strings.Contains(strings.Join(rep.Problems, "\n"), "corrupt event record") {
		t.Fatalf("damaged store: %+v %v", rep, err)
	}
	t.Log(rep.Problems)
	// A store a hub holds is not read.
	l, err := Open(good, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Check(bgc, good); !errors.Is(err, ErrLocked) {
		t.Fatalf("check of a store in use: %v", err)
	}
}

// readStore returns "id topic data" of every event of a store.
func readStore(t *testing.T, dir string) map[uint64]string {
	t.Helper()
	l, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out := map[uint64]string{}
	if err := l.Read(bgc, 0, ssehub.All(), func(e *ssehub.Event) error {
		out[e.ID] = fmt.Sprintf("%s %s %s %s %d", e.Topic, e.Type, e.Key, e.Data, e.Time.UnixNano())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSalvage: salvage of a store with a damaged leaf page copies every
// event of the undamaged pages (ids, topics and fields), the kv bucket and
// the head, and a damaged branch page loses nothing: its leaves are found
// as orphans. The new store opens, checks OK and has a new epoch.
func TestSalvage(t *testing.T) {
	good := fixture(t, 6000)
	want := readStore(t, good)
	leaves, branches, ps := eventPages(t, good)
	goodRep, _ := Check(bgc, good)

	var leaf uint64
	for id, ids := range leaves {
		if len(ids) > 5 && ids[0] > 1 {
			leaf = id
			break
		}
	}
	cases := map[string]struct {
		fn   func([]byte) []byte
		lost []uint64
	}{
		"leaf": {func(b []byte) []byte {
			ne.PutUint16(b[int(leaf)*ps+8:], 0x33) // no longer a page bbolt knows
			return b
		}, leaves[leaf]},
		"branch": {func(b []byte) []byte {
			ne.PutUint64(b[int(branches[0])*ps:], 12345) // the page no longer names itself
			return b
		}, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			bad := copyStore(t, good)
			damage(t, bad, c.fn)
			if _, err := Open(bad, Options{NoSync: true}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open of the damaged store: %v", err)
			}
			out := filepath.Join(t.TempDir(), "new")
			rep, err := Salvage(bgc, bad, out)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", rep)
			if rep.Events != 6000-len(c.lost) || rep.Head != 6000 || rep.KVKeys != 1 || len(rep.Skipped) == 0 || rep.Epoch == goodRep.Epoch {
				t.Fatalf("report %+v, want %d events", rep, 6000-len(c.lost))
			}
			got := readStore(t, out)
			lost := map[uint64]bool{}
			for _, id := range c.lost {
				lost[id] = true
			}
			for id, w := range want {
				if g, ok := got[id]; lost[id] == ok || ok && g != w {
					t.Fatalf("event %d: salvaged %q (%v), was %q, lost %v", id, g, ok, w, lost[id])
				}
			}
			chk, err := Check(bgc, out)
			if err != nil || !chk.OK || chk.Head != 6000 || chk.Events != int64(rep.Events) {
				t.Fatalf("check of the salvaged store: %+v %v", chk, err)
			}
			l, err := Open(out, Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if v, err := l.Get(bgc, "tokens", "t1"); err != nil || string(v) != "secret-hash" {
				t.Fatalf("kv after salvage: %q %v", v, err)
			}
			if r, err := l.Append(bgc, []*ssehub.Event{{Topic: "c.1"}}); err != nil || r[0].ID != 6001 {
				t.Fatalf("append after salvage: %+v %v", r, err)
			}
			if r, _ := l.Append(bgc, []*ssehub.Event{{Topic: "c.0", Key: "k5990"}}); !r[0].Duplicate && !lost[5990] {
				t.Fatalf("idempotency keys were not salvaged: %+v", r)
			}
		})
	}
	// An intact store salvages whole and keeps its epoch.
	out := filepath.Join(t.TempDir(), "same")
	rep, err := Salvage(bgc, good, out)
	if err != nil || rep.Events != 6000 || rep.Orphans != 0 || len(rep.Skipped) != 0 || rep.Epoch != goodRep.Epoch {
		t.Fatalf("salvage of an intact store: %+v %v", rep, err)
	}
	if _, err := Salvage(bgc, good, out); err == nil {
		t.Fatal("salvage over an existing store")
	}
}
