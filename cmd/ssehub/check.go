package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/ssehub/ssehub/bolt"
)

// check and salvage are the recovery tools of the bolt store; the logic is
// bolt.Check and bolt.Salvage, tested there.
func init() {
	register(command{name: "check", summary: "check a stopped hub's data directory (exit 1 if damaged)", run: runCheck})
	register(command{name: "salvage", summary: "copy what is readable from a damaged data directory into a new one", run: runSalvage})
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "data directory of the bolt store (the hub must be stopped)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ssehub check: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	rep, err := bolt.Check(ctx, *data)
	if err != nil {
		fmt.Fprintf(stderr, "ssehub check: %v\n", err)
		return 1
	}
	if rep.OK {
		fmt.Fprintf(stdout, "OK: %s: %d events (ids %d to %d), %d topics, epoch %s, %d pages read\n",
			*data, rep.Events, rep.First, rep.Head, rep.Topics, rep.Epoch, rep.Pages)
		return 0
	}
	fmt.Fprintf(stdout, "DAMAGED: %s: %d problems\n", *data, len(rep.Problems))
	for _, p := range rep.Problems {
		fmt.Fprintf(stdout, "  %s\n", p)
	}
	fmt.Fprintf(stdout, "Recover what is readable with: ssehub salvage --data %s --out NEWDIR\n", *data)
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
