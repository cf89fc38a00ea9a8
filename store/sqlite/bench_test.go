package sqlite_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
)

// BenchmarkAppendAudit is one journal write's audit half as the writer
// makes it under load: a batch of one record for each of 500 users whose
// chains already hold records.
func BenchmarkAppendAudit(b *testing.B) {
	s := openFresh(b)
	if err := s.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	const users = 500
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := func(round int) []store.AuditRecord {
		recs := make([]store.AuditRecord, 0, users)
		for u := range users {
			recs = append(recs, storetest.AuditRecords(fmt.Sprintf("u%d", u), fmt.Sprintf("r%d-", round), 1, at)...)
		}
		return recs
	}
	if err := s.AppendAudit(b.Context(), batch(-1)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := s.AppendAudit(b.Context(), batch(i)); err != nil {
			b.Fatal(err)
		}
	}
}
