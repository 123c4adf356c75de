package rtp

import "sync"

// Bridge relays media between a and b until stop is called or either session
// closes. Each direction is forwarded on the receiving session's read goroutine
// into the other session's outgoing stream (its own SSRC, sequence and
// timestamps), transcoding PCMU<->PCMA only when the codecs differ and passing
// telephone-event through with the destination's payload type. Hooks (OnAudio,
// DTMF) keep firing. Bridging a session that is already bridged moves it: its
// old partner stops receiving from it.
func Bridge(a, b *Session) (stop func()) {
	if a == nil || b == nil || a == b || a.closed() || b.closed() {
		return func() {}
	}
	link(a, b)
	link(b, a)
	var once sync.Once
	return func() {
		once.Do(func() {
			a.peer.CompareAndSwap(b, nil)
			b.peer.CompareAndSwap(a, nil)
		})
	}
}

// link makes from forward to to, detaching from's previous partner.
func link(from, to *Session) {
	if old := from.peer.Swap(to); old != nil && old != to {
		old.peer.CompareAndSwap(from, nil)
	}
}

// unbridge detaches s and its partner from each other.
func (s *Session) unbridge() {
	if p := s.peer.Swap(nil); p != nil {
		p.peer.CompareAndSwap(s, nil)
	}
}
