package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

// version, when set at build time with -ldflags "-X main.version=...",
// replaces the version read from the build information.
var version = ""

func init() {
	register(command{name: "version", summary: "print the version, its source revision and the Go version", run: runVersion})
}

const versionUsage = `usage: ssehub version

Prints the version: the module version when ssehub was built as a module
(go install github.com/ssehub/ssehub/cmd/ssehub@v1.2.3), else "devel" with
the source revision it was built from (12 characters), "dirty" when the
checkout had uncommitted changes, and the commit time; then the Go version
and platform it was built with. For example:
  ssehub v1.2.3 go1.26.8 linux/amd64
  ssehub devel d739fe2abcde dirty 2026-03-01T12:00:00Z go1.26.8 linux/amd64
`

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	pos, code, ok := parseArgs(fs, args, "version", false, versionUsage, stderr)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		return usageError(stderr, "version", "unexpected argument %q", pos[0])
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintf(stdout, "ssehub %s\n", versionString(bi, version))
	return 0
}

// pseudoVersion matches the tail of a Go pseudo-version
// (v0.0.0-20260301120000-d739fe2abcde, optionally +dirty): the go command
// derives one from the checkout, so it says no more than the revision.
var pseudoVersion = regexp.MustCompile(`\d{14}-[0-9a-f]{12}(\+dirty)?$`)

// versionString renders the version from the build information bi (nil
// when unavailable) and the link-time version override: the version, the
// VCS revision, dirty flag and commit time when bi has them, and the Go
// version and platform, separated by spaces.
func versionString(bi *debug.BuildInfo, override string) string {
	var parts []string
	settings := map[string]string{}
	goVersion := runtime.Version()
	mainVersion := ""
	if bi != nil {
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		mainVersion = bi.Main.Version
	}
	rev := settings["vcs.revision"]
	switch {
	case override != "":
		parts = append(parts, override)
	case mainVersion != "" && mainVersion != "(devel)" && !(rev != "" && pseudoVersion.MatchString(mainVersion)):
		parts = append(parts, mainVersion)
	default:
		parts = append(parts, "devel")
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		parts = append(parts, rev)
		if settings["vcs.modified"] == "true" {
			parts = append(parts, "dirty")
		}
		if t := settings["vcs.time"]; t != "" {
			parts = append(parts, t)
		}
	}
	goos, goarch := settings["GOOS"], settings["GOARCH"]
	if goos == "" || goarch == "" {
		goos, goarch = runtime.GOOS, runtime.GOARCH
	}
	parts = append(parts, goVersion, goos+"/"+goarch)
	return strings.Join(parts, " ")
}
