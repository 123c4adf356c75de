package pbx

import (
	"context"
	"sync"
	"time"
)

// tasks owns every goroutine the PBX starts besides the SIP stack's handlers: the
// calls' helpers, the callback dialer, MWI sends, re-INVITE relays, housekeeping.
// This file holds the package's only go statements, so that Shutdown can stop and
// wait for all of them before the store closes.
type tasks struct {
	ctx    context.Context // the PBX's: cancelled when Shutdown begins
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func newTasks(ctx context.Context) *tasks { return &tasks{ctx: ctx} }

// spawn runs f in a goroutine with the PBX's context. After close it runs nothing
// and returns false: the PBX is going away and the store with it.
func (t *tasks) spawn(f func(ctx context.Context)) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f(t.ctx)
	}()
	return true
}

// after runs f once d has passed, unless the PBX stops first.
func (t *tasks) after(d time.Duration, f func(ctx context.Context)) bool {
	return t.spawn(func(ctx context.Context) {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
			f(ctx)
		case <-ctx.Done():
		}
	})
}

// close refuses new goroutines and waits for the running ones, which see their
// context cancelled.
func (t *tasks) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}

// waitFor runs wait and returns nil when it returns, or ctx's error when ctx ends
// first (wait then finishes on its own).
func waitFor(ctx context.Context, wait func()) error {
	done := make(chan struct{})
	go func() {
		wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
