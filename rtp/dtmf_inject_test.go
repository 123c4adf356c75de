package rtp

import (
	"net/netip"
	"testing"
)

func TestInjectDTMF(t *testing.T) {
	t.Parallel()
	pool, err := NewPool(netip.MustParseAddr("127.0.0.1"), 41000, 41999)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := pool.Open()
	if err != nil {
		t.Fatal(err)
	}
	s.InjectDTMF('5')
	if d := <-s.DTMF(); d != '5' {
		t.Fatalf("got %q", d)
	}
	s.Close()
	s.InjectDTMF('6') // after Close: dropped, no panic
}
