//go:build pebble

package main

// The pebble store (package pebble) is linked only into a binary built
// with -tags pebble: it adds about 12 MB to the binary and half again to
// its cold build, for a store that is not the default (docs/storage.md
// says when to choose it).
import _ "github.com/ssehub/ssehub/pebble"
