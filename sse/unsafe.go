package sse

import "unsafe"

// unsafeBytes returns the bytes of s without copying; they must not be
// modified.
func unsafeBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// unsafeStringData returns the address of s's bytes (tests use it to check
// that strings are shared rather than copied).
func unsafeStringData(s string) *byte { return unsafe.StringData(s) }
