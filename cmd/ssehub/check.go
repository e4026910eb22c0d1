package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ssehub/ssehub/bolt"
)

// check and salvage are the recovery tools of the bolt store; the logic is
// bolt.Check and bolt.Salvage, tested there.
func init() {
	register(command{name: "check", summary: "check a stopped hub's data directory (exit 1 if damaged)", run: runCheck})
	register(command{name: "salvage", summary: "copy what is readable from a damaged data directory into a new one", run: runSalvage})
}

// A storeChecker checks one kind of store's data directory for ssehub
// check; bolt's is built in, pebble's is added by a build with -tags
// pebble (features_pebble.go).
type storeChecker struct {
	name   string
	detect func(dir string) bool
	check  func(ctx context.Context, dir string) (checkResult, error)
}

// checkResult is what ssehub check prints of any store's report.
type checkResult struct {
	ok       bool
	summary  string   // the OK line after "OK: DIR: "
	problems []string // one finding a line
	recover  string   // what to do about damage
}

var storeCheckers = []storeChecker{{
	name:   "bolt",
	detect: func(dir string) bool { return fileExists(filepath.Join(dir, bolt.FileName)) },
	check: func(ctx context.Context, dir string) (checkResult, error) {
		rep, err := bolt.Check(ctx, dir)
		return checkResult{ok: rep.OK, problems: rep.Problems,
			summary: fmt.Sprintf("%d events (ids %d to %d), %d topics, epoch %s, %d pages read", rep.Events, rep.First, rep.Head, rep.Topics, rep.Epoch, rep.Pages),
			recover: "Recover what is readable with: ssehub salvage --data " + dir + " --out NEWDIR"}, err
	},
}}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "data directory of the bolt or pebble store (the hub must be stopped)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ssehub check: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	c := storeCheckers[0] // bolt's, which reports a missing file clearly
	for _, sc := range storeCheckers {
		if sc.detect(*data) {
			c = sc
			break
		}
	}
	if c.name == "bolt" && !c.detect(*data) && fileExists(filepath.Join(*data, "pebble")) {
		fmt.Fprintf(stderr, "ssehub check: %s holds a pebble store, which this build does not link: build ssehub with -tags pebble\n", *data)
		return 1
	}
	rep, err := c.check(ctx, *data)
	if err != nil {
		fmt.Fprintf(stderr, "ssehub check: %v\n", err)
		return 1
	}
	if rep.ok {
		fmt.Fprintf(stdout, "OK: %s (%s): %s\n", *data, c.name, rep.summary)
		return 0
	}
	fmt.Fprintf(stdout, "DAMAGED: %s (%s): %d problems\n", *data, c.name, len(rep.problems))
	for _, p := range rep.problems {
		fmt.Fprintf(stdout, "  %s\n", p)
	}
	fmt.Fprintln(stdout, rep.recover)
	return 1
}

func runSalvage(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("salvage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "damaged data directory (the hub must be stopped); it is only read")
	out := fs.String("out", "", "new, empty data directory to write")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: ssehub salvage --data DIR --out NEWDIR")
		return 2
	}
	rep, err := bolt.Salvage(ctx, *data, *out)
	if err != nil {
		fmt.Fprintf(stderr, "ssehub salvage: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "saved %d events (%d from pages no longer linked), ids %d to %d; %d kv keys in %d buckets; %d idempotency keys\n",
		rep.Events, rep.Orphans, rep.First, rep.Head, rep.KVKeys, rep.KVBuckets, rep.DedupeKeys)
	fmt.Fprintf(stdout, "new epoch %s\n", rep.Epoch)
	if len(rep.Skipped) > 0 {
		fmt.Fprintf(stdout, "skipped %d damaged pages or records:\n", len(rep.Skipped))
		for _, s := range rep.Skipped {
			fmt.Fprintf(stdout, "  %s\n", s)
		}
	}
	fmt.Fprintf(stdout, "start the hub on %s (e.g. move %s aside and rename %s to it)\n", *out, *data, *out)
	if len(rep.Skipped) > 0 {
		return 1
	}
	return 0
}
