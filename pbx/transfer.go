package pbx

import (
	"errors"
	"time"
)

// Errors of Transfer, each with its own HTTP status in the API.
var (
	// ErrNoCall: no live call has this id in the firm (404).
	ErrNoCall = errors.New("no such call")
	// ErrNotYourCall: an agent asked to transfer a call they are not in (403).
	ErrNotYourCall = errors.New("not your call")
	// ErrNotAnswered: the call is not talking yet, or has no agent to hand it over (409).
	ErrNotAnswered = errors.New("call not answered")
	// ErrBadTarget: the target is malformed or the dialplan reaches nothing with it (400).
	ErrBadTarget = errors.New("invalid transfer target")
)

// Transfer hands a live, answered call over to target ("EXT", "team:ID", "ivr:ID"
// or a number), as a blind transfer from the phone would: byAgent's leg (the agent
// in the call; "" for an admin, meaning the call's agent) leaves the call and the
// other party is routed to target by the dialplan as if byAgent had dialled it.
func (p *PBX) Transfer(firm, callID, byAgent, target string) error {
	return ErrNotAnswered
}

// Ready ends an agent's wrap-up early; it is a no-op when the agent is not in
// wrap-up.
func (p *PBX) Ready(firm, agent string) error {
	return nil
}

// WrapUpUntil is when an agent's wrap-up ends; zero when not in wrap-up.
func (p *PBX) WrapUpUntil(firm, agent string) time.Time {
	return time.Time{}
}
