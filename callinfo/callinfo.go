// Package callinfo holds the domain values that call control (pbx), the database
// (store) and the HTTP API (api) share: a call's outcome, state and direction, an
// agent's status and a SIP cause. It is a leaf package that imports none of ours, so
// that store may use it without depending on call control, and each value is defined
// once instead of as string literals in three packages. Each type's string is the
// exact word SPEC sections 4 and 5 name, so JSON and stored records keep their shape.
package callinfo

import (
	"slices"
	"strconv"
)

// Outcome is how a call ended, as written in the call log.
type Outcome string

// The outcomes of the call log (SPEC section 4).
const (
	Answered  Outcome = "answered"
	Voicemail Outcome = "voicemail"
	Callback  Outcome = "callback"
	Abandoned Outcome = "abandoned"
	Busy      Outcome = "busy"
	Failed    Outcome = "failed"
	NoAnswer  Outcome = "no-answer"
)

// Outcomes lists every outcome, in the order the API names them.
var Outcomes = []Outcome{Answered, Voicemail, Callback, Abandoned, Busy, Failed, NoAnswer}

// Valid reports whether o is one of Outcomes.
func (o Outcome) Valid() bool { return slices.Contains(Outcomes, o) }

// Direction is which way a call goes relative to the firm.
type Direction string

// The directions of the call log.
const (
	Inbound  Direction = "inbound"
	Outbound Direction = "outbound"
	Internal Direction = "internal"
)

// CallState is where a live call is in its life, as the API's live call list shows it.
type CallState string

// The states of a live call.
const (
	StateRouting         CallState = "routing"
	StateRinging         CallState = "ringing"
	StateDialing         CallState = "dialing"
	StateTalking         CallState = "talking"
	StateQueued          CallState = "queued"
	StateIVR             CallState = "ivr"
	StateVoicemail       CallState = "voicemail"
	StateVoicemailMenu   CallState = "voicemail-menu"
	StateCallback        CallState = "callback"
	StateRingingAgent    CallState = "ringing-agent"
	StateRingingCustomer CallState = "ringing-customer"
)

// EventState is what a live "call" event tells an agent about the call: it rings
// for them, it is connected, it is on hold, or it is over for them. It is coarser
// than CallState: an agent's app needs no more.
type EventState string

// The states of a call event (SPEC section 5).
const (
	EventRinging  EventState = "ringing"
	EventAnswered EventState = "answered"
	EventHeld     EventState = "held"
	EventEnded    EventState = "ended"
)

// Status is an agent's availability.
type Status string

// The statuses an agent can set.
const (
	Online  Status = "online"
	Away    Status = "away"
	Offline Status = "offline"
)

// Valid reports whether s is one of the statuses an agent can set.
func (s Status) Valid() bool { return s == Online || s == Away || s == Offline }

// Cause is the SIP status that ended (part of) a call: a code and its reason
// phrase. A cause without a code is a plain note ("RTP timeout").
type Cause struct {
	Code   int
	Reason string
}

// String is the form the call log and the API show: "486 Busy Here"; empty for
// the zero Cause.
func (c Cause) String() string {
	if c.Code == 0 {
		return c.Reason
	}
	return strconv.Itoa(c.Code) + " " + c.Reason
}

// IsZero reports whether no cause is known.
func (c Cause) IsZero() bool { return c == Cause{} }

// Causes call control writes.
var (
	CauseOK                  = Cause{200, "OK"}
	CauseNotFound            = Cause{404, "Not Found"}
	CauseRequestTimeout      = Cause{408, "Request Timeout"}
	CauseUnavailable         = Cause{480, "Temporarily Unavailable"}
	CauseBusyHere            = Cause{486, "Busy Here"}
	CauseRequestTerminated   = Cause{487, "Request Terminated"}
	CauseNotAcceptableHere   = Cause{488, "Not Acceptable Here"}
	CauseServerInternalError = Cause{500, "Server Internal Error"}
	CauseServiceUnavailable  = Cause{503, "Service Unavailable"}
)
