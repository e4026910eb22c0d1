// Command ssehub is the ssehub Server-Sent Events hub and its tools: serve,
// publish, tail, token and bench. Each subcommand lives in its own file and
// registers itself with register.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand: run gets the arguments after its name and
// returns the process exit code.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

// register adds a subcommand; each subcommand file calls it from init.
func register(c command) { commands[c.name] = c }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if isHelp(args[0]) || args[0] == "help" {
		if len(args) > 1 && args[0] == "help" { // ssehub help CMD [SUB]: its help
			return run(ctx, append(append([]string(nil), args[1:]...), "--help"), stdout, stderr)
		}
		usage(stderr)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ssehub: unknown command %q\n", args[0])
		fmt.Fprintln(stderr, "run 'ssehub --help' for the commands")
		return 2
	}
	code := c.run(ctx, args[1:], stdout, stderr)
	if c.name == "serve" && code == 2 && len(args) > 1 && isHelp(args[1]) {
		// serve returns 2 when its flags ask for help; with -h first,
		// that can only be the help request, which is not an error.
		return 0
	}
	return code
}

// isHelp reports whether arg is one of the flags that ask for help.
func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// parseInterspersed parses fs from args where flags may come before or
// after the positional arguments, which it returns. After "--" every
// argument is positional, so data may start with "-".
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil // Parse stopped at the terminator
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ssehub <command> [flags]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'ssehub <command> --help' (or 'ssehub help <command>') for a command's flags and examples.")
	fmt.Fprintln(w, "The client commands read $SSEHUB_SERVER (default "+defaultServer+") and $SSEHUB_TOKEN.")
}
