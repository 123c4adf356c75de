package pbx

import (
	"context"
	"errors"
	"time"

	"switchboard/callinfo"
	"switchboard/sip"
)

// outLeg is what call control uses of a leg it placed (a *sip.OutboundLeg).
type outLeg interface {
	legControl
	Wait(ctx context.Context, onProgress func(code int, sdp []byte)) error
	RemoteSDP() []byte
	URI() string
}

// legPlacer places outbound legs (the SIP server).
type legPlacer interface {
	Dial(ctx context.Context, spec sip.DialSpec) (outLeg, error)
}

// sipPlacer places legs through the SIP server.
type sipPlacer struct{ s *sip.Server }

func (sp sipPlacer) Dial(ctx context.Context, spec sip.DialSpec) (outLeg, error) {
	l, err := sp.s.Dial(ctx, spec)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return l, nil
}

// forker rings several legs at once (parallel fork).
type forker struct {
	place    legPlacer
	spawn    func(func(context.Context)) bool
	stopping func() bool // the PBX is shutting down
}

type branchResult struct {
	idx int
	leg outLeg
	err error
}

// forkResult is how a fork ended: the leg that answered and the index of its spec,
// or no leg and why.
type forkResult struct {
	idx     int
	leg     outLeg
	outcome callinfo.Outcome
	cause   callinfo.Cause
}

// fork dials every spec (each with its offer) and returns the first leg that
// answers with the index of its spec.
func (fk *forker) fork(ctx context.Context, specs []sip.DialSpec, timeout time.Duration, onProgress func(code int, sdp []byte)) forkResult {
	// The branches end when fork returns, with a cause that fork picks (see the
	// ctx.Done case), not with whatever cancelled ctx.
	fctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	results := make(chan branchResult, len(specs))
	for i, spec := range specs {
		fk.spawn(func(context.Context) {
			leg, err := fk.place.Dial(fctx, spec)
			if err == nil {
				err = leg.Wait(fctx, onProgress)
			}
			results <- branchResult{i, leg, err}
		})
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	pending, busy := len(specs), 0
	var cause callinfo.Cause
	drain := func(n int) {
		// Branches still ringing get CANCEL from the deferred cancel; one that
		// answered anyway is hung up here.
		fk.spawn(func(context.Context) {
			for range n {
				if r := <-results; r.err == nil {
					r.leg.Hangup(context.Background())
				}
			}
		})
	}
	for pending > 0 {
		select {
		case r := <-results:
			pending--
			if r.err == nil {
				drain(pending)
				return forkResult{r.idx, r.leg, callinfo.Answered, callinfo.CauseOK}
			}
			var se *sip.StatusError
			if errors.As(r.err, &se) {
				cause = callinfo.Cause{Code: se.Code, Reason: se.Reason}
				if se.Code == 486 || se.Code == 600 || se.Code == 603 {
					busy++
				}
			} else if cause.IsZero() {
				cause = callinfo.CauseRequestTimeout
			}
		case <-timer.C:
			drain(pending)
			return forkResult{-1, nil, callinfo.NoAnswer, callinfo.CauseRequestTimeout}
		case <-ctx.Done():
			if fk.stopping() {
				// Shutting down: branches nobody answered yet are dropped, not
				// waited on for a response to CANCEL.
				cancel(sip.ErrAbandoned)
			}
			drain(pending)
			return forkResult{-1, nil, callinfo.Abandoned, callinfo.CauseRequestTerminated}
		}
	}
	if busy == len(specs) {
		return forkResult{-1, nil, callinfo.Busy, cause}
	}
	return forkResult{-1, nil, callinfo.NoAnswer, cause}
}
