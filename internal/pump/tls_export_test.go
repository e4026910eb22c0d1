package pump

// SkipTLSRecords advances the sequence number of a stream whose records
// the pump seals itself, from its worker (in Source.Next): its client
// must then fail to authenticate the next record. It reports whether the
// stream seals its own records.
func SkipTLSRecords(s *Stream, n uint64) bool {
	if s.tls == nil || s.tls.rec == nil {
		return false
	}
	s.tls.rec.Skip(n)
	return true
}

// SetTLSRecordLimit sets how many records a stream's key may seal, for
// the streams added until restore is called.
func SetTLSRecordLimit(n uint64) (restore func()) {
	old := tlsRecordLimit
	tlsRecordLimit = n
	return func() { tlsRecordLimit = old }
}
