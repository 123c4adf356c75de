package store

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAddCallback measures one fsynced callback insert at a time, the
// cost a caller's "we will call you back" confirmation waits for.
func BenchmarkAddCallback(b *testing.B) {
	s := openTest(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := &Callback{Firm: "bench.example", Caller: fmt.Sprint(i), TargetKind: TargetTeam, TargetID: "sales"}
		if err := s.AddCallback(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutRegistrationParallel measures concurrent REGISTER refreshes,
// which share commits through bbolt's Batch.
func BenchmarkPutRegistrationParallel(b *testing.B) {
	s := openTest(b)
	var n atomic.Int64
	exp := time.Now().Add(time.Hour)
	b.SetParallelism(16) // phones refresh independently; many wait on I/O at once
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			r := Registration{Firm: "bench.example", User: fmt.Sprint(i % 500), Contact: "sip:phone@192.0.2.1:5060", Expires: exp}
			if err := s.PutRegistration(r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
