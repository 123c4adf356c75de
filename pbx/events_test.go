package pbx

import "testing"

func TestHub(t *testing.T) {
	t.Parallel()
	h := NewHub()
	mine := h.Subscribe(2, func(e Event) bool { return e.Concerns("f", "alice") })
	all := h.Subscribe(0, nil)
	for _, agents := range [][]string{{"bob"}, {"alice"}, {"alice", "bob"}, {"alice"}} {
		h.Publish(Event{Name: "status", Firm: "f", Agents: agents}) // never blocks, full or not
	}
	h.Publish(Event{Name: "status", Firm: "g", Agents: []string{"alice"}})
	if got := len(mine.C); got != 2 || mine.Lost() != 1 {
		t.Errorf("filtered subscriber: %d buffered, %d lost; want 2 and 1", got, mine.Lost())
	}
	if got := len(all.C); got != 5 || all.Lost() != 0 {
		t.Errorf("unfiltered subscriber: %d buffered, %d lost; want 5 and 0", got, all.Lost())
	}
	if h.Dropped() != 1 || h.Subscribers() != 2 {
		t.Errorf("hub: %d dropped, %d subscribers", h.Dropped(), h.Subscribers())
	}
	mine.Cancel()
	mine.Cancel() // idempotent
	h.Publish(Event{Name: "status", Firm: "f", Agents: []string{"alice"}})
	n := 0
	for range mine.C { // closed by Cancel: the loop ends after the buffered events
		n++
	}
	if n != 2 || h.Subscribers() != 1 {
		t.Errorf("after cancel: %d events drained, %d subscribers", n, h.Subscribers())
	}
}
