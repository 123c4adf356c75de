package pbx

import (
	"sync"
	"sync/atomic"
)

// role is what a party is to those who listen to a bridged call: the recorder
// puts the customer left and the agent right; a supervisor's mix is made of all.
type role int

const (
	roleCustomer role = iota
	roleAgent
)

// audioTaps lets several listeners (the recorder, a supervisor's mix) hear a
// call's parties: a session has a single receive hook, which the bridge points
// here. Listeners run on the sessions' read goroutines, so they must be quick
// and copy the samples they keep.
type audioTaps struct {
	mu    sync.Mutex
	subs  map[int]func(role, []int16)
	next  int
	snaps atomic.Pointer[[]func(role, []int16)]
}

// add registers a listener; remove unregisters it.
func (t *audioTaps) add(fn func(r role, pcm []int16)) (remove func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.subs == nil {
		t.subs = map[int]func(role, []int16){}
	}
	id := t.next
	t.next++
	t.subs[id] = fn
	t.publishLocked()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.subs, id)
		t.publishLocked()
	}
}

func (t *audioTaps) publishLocked() {
	fns := make([]func(role, []int16), 0, len(t.subs))
	for _, fn := range t.subs {
		fns = append(fns, fn)
	}
	t.snaps.Store(&fns)
}

// deliver hands a party's frame to every listener, without locking: it runs for
// every packet.
func (t *audioTaps) deliver(r role, pcm []int16) {
	if fns := t.snaps.Load(); fns != nil {
		for _, fn := range *fns {
			fn(r, pcm)
		}
	}
}
