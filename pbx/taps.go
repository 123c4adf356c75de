package pbx

import (
	"sync"
	"sync/atomic"

	"switchboard/rtp"
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
//
// The sessions decode their audio for the taps only while someone listens: a
// bridge without recorder or supervisor relays packets without decoding them.
type audioTaps struct {
	mu    sync.Mutex
	subs  map[int]func(role, []int16)
	next  int
	snaps atomic.Pointer[[]func(role, []int16)]
	sess  [2]*rtp.Session // the running bridge's parties, if any
	roles [2]role
}

// attach points the taps at a bridge's two parties; detach lets go of them.
func (t *audioTaps) attach(sess [2]*rtp.Session, roles [2]role) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sess, t.roles = sess, roles
	t.hookLocked()
}

func (t *audioTaps) detach() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.sess {
		if s != nil {
			s.OnAudio(nil)
		}
	}
	t.sess = [2]*rtp.Session{}
}

// hookLocked sets or clears the sessions' receive hooks as listeners come and go.
func (t *audioTaps) hookLocked() {
	for i, s := range t.sess {
		if s == nil {
			continue
		}
		if len(t.subs) == 0 {
			s.OnAudio(nil)
			continue
		}
		r := t.roles[i]
		s.OnAudio(func(pcm []int16) { t.deliver(r, pcm) })
	}
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
	t.hookLocked()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.subs, id)
		t.publishLocked()
		t.hookLocked()
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
