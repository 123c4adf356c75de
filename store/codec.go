package store

import (
	"encoding/json"
	"fmt"
	"switchboard/callinfo"
	"time"
)

// formatVersion is the value format this build writes and the newest it
// reads. Bump it when a disk struct changes incompatibly and teach the
// decoders to upgrade older versions.
const formatVersion = 1

// The disk structs below are the on-disk format. They are deliberately
// separate from the exported types so renaming an API field can never
// silently change (or break reading of) stored data.

type regDisk struct {
	V         int       `json:"v"`
	Firm      string    `json:"firm"`
	User      string    `json:"user"`
	Contact   string    `json:"contact"`
	Source    string    `json:"source,omitempty"`
	Transport string    `json:"transport,omitempty"`
	Expires   time.Time `json:"expires"`
	CallID    string    `json:"call_id,omitempty"`
	CSeq      uint32    `json:"cseq,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	Instance  string    `json:"instance,omitempty"`
}

type statusDisk struct {
	V       int       `json:"v"`
	Firm    string    `json:"firm"`
	Agent   string    `json:"agent"`
	Status  string    `json:"status"`
	Updated time.Time `json:"updated"`
}

type callbackDisk struct {
	V           int       `json:"v"`
	ID          string    `json:"id"`
	Firm        string    `json:"firm"`
	Caller      string    `json:"caller"`
	CallerName  string    `json:"caller_name,omitempty"`
	TargetKind  string    `json:"target_kind"`
	TargetID    string    `json:"target_id"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	NextAttempt time.Time `json:"next_attempt"`
	Attempts    int       `json:"attempts"`
	State       string    `json:"state"`
	Note        string    `json:"note,omitempty"`
	ClaimedBy   string    `json:"claimed_by,omitempty"`
}

type callDisk struct {
	V           int            `json:"v"`
	ID          string         `json:"id"`
	Firm        string         `json:"firm"`
	Start       time.Time      `json:"start"`
	Answer      time.Time      `json:"answer"`
	End         time.Time      `json:"end"`
	Direction   string         `json:"direction,omitempty"`
	From        string         `json:"from,omitempty"`
	To          string         `json:"to,omitempty"`
	Agent       string         `json:"agent,omitempty"`
	CallerAgent string         `json:"caller_agent,omitempty"`
	Team        string         `json:"team,omitempty"`
	Outcome     string         `json:"outcome,omitempty"`
	QueueWaitNS int64          `json:"queue_wait_ns,omitempty"`
	TalkTimeNS  int64          `json:"talk_time_ns,omitempty"`
	Cause       string         `json:"cause,omitempty"`
	CallID      string         `json:"call_id,omitempty"`
	Transfers   []transferDisk `json:"transfers,omitempty"`
	HoldTimeNS  int64          `json:"hold_time_ns,omitempty"`
	WrapUpNS    int64          `json:"wrap_up_ns,omitempty"`
	Recording   string         `json:"recording,omitempty"`
}

type transferDisk struct {
	By string    `json:"by"`
	To string    `json:"to"`
	At time.Time `json:"at"`
}

type voicemailDisk struct {
	V          int       `json:"v"`
	ID         string    `json:"id"`
	Firm       string    `json:"firm"`
	Mailbox    string    `json:"mailbox"`
	Caller     string    `json:"caller,omitempty"`
	Time       time.Time `json:"time"`
	DurationNS int64     `json:"duration_ns,omitempty"`
	File       string    `json:"file"`
	Codec      string    `json:"codec,omitempty"`
	Read       bool      `json:"read"`
}

type recordingDisk struct {
	V           int       `json:"v"`
	ID          string    `json:"id"`
	Firm        string    `json:"firm"`
	Call        string    `json:"call,omitempty"`
	Agent       string    `json:"agent,omitempty"`
	CallerAgent string    `json:"caller_agent,omitempty"`
	Team        string    `json:"team,omitempty"`
	Start       time.Time `json:"start"`
	DurationNS  int64     `json:"duration_ns,omitempty"`
	File        string    `json:"file"`
	Size        int64     `json:"size,omitempty"`
}

type settingDisk struct {
	V     int    `json:"v"`
	Value string `json:"value"`
}

// marshal encodes a disk struct whose V field the caller has set.
func marshal(kind string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s record: %w", kind, err)
	}
	return b, nil
}

// unmarshal checks the format version before decoding, so that a value
// written by a newer build is reported as such instead of being half-read
// into the current struct.
func unmarshal(kind string, data []byte, dst any) error {
	var h struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return fmt.Errorf("decode %s record: %w: %w", kind, ErrCorrupt, err)
	}
	switch {
	case h.V == nil:
		return fmt.Errorf("decode %s record: no format version field: %w", kind, ErrCorrupt)
	case *h.V > formatVersion:
		return fmt.Errorf("decode %s record: format version %d is newer than the %d this build reads (written by a newer Switchboard?): %w",
			kind, *h.V, formatVersion, ErrVersion)
	case *h.V < 1:
		return fmt.Errorf("decode %s record: invalid format version %d: %w", kind, *h.V, ErrCorrupt)
	}
	if err := json.Unmarshal(data, dst); err != nil {
		return fmt.Errorf("decode %s record: %w: %w", kind, ErrCorrupt, err)
	}
	return nil
}

func encodeRegistration(r Registration) ([]byte, error) {
	return marshal("registration", regDisk{
		V: formatVersion, Firm: r.Firm, User: r.User, Contact: r.Contact, Source: r.Source,
		Transport: r.Transport, Expires: r.Expires, CallID: r.CallID, CSeq: r.CSeq,
		UserAgent: r.UserAgent, Instance: r.Instance,
	})
}

func decodeRegistration(data []byte) (Registration, error) {
	var d regDisk
	if err := unmarshal("registration", data, &d); err != nil {
		return Registration{}, err
	}
	return Registration{
		Firm: d.Firm, User: d.User, Contact: d.Contact, Source: d.Source, Transport: d.Transport,
		Expires: d.Expires, CallID: d.CallID, CSeq: d.CSeq, UserAgent: d.UserAgent, Instance: d.Instance,
	}, nil
}

func encodeStatus(d statusDisk) ([]byte, error) {
	d.V = formatVersion
	return marshal("agent status", d)
}

func decodeStatus(data []byte) (statusDisk, error) {
	var d statusDisk
	err := unmarshal("agent status", data, &d)
	return d, err
}

func encodeCallback(c Callback) ([]byte, error) {
	return marshal("callback", callbackDisk{
		V: formatVersion, ID: c.ID, Firm: c.Firm, Caller: c.Caller, CallerName: c.CallerName,
		TargetKind: c.TargetKind, TargetID: c.TargetID, Created: c.Created, Updated: c.Updated,
		NextAttempt: c.NextAttempt, Attempts: c.Attempts, State: c.State, Note: c.Note, ClaimedBy: c.ClaimedBy,
	})
}

func decodeCallback(data []byte) (Callback, error) {
	var d callbackDisk
	if err := unmarshal("callback", data, &d); err != nil {
		return Callback{}, err
	}
	return Callback{
		ID: d.ID, Firm: d.Firm, Caller: d.Caller, CallerName: d.CallerName, TargetKind: d.TargetKind,
		TargetID: d.TargetID, Created: d.Created, Updated: d.Updated, NextAttempt: d.NextAttempt,
		Attempts: d.Attempts, State: d.State, Note: d.Note, ClaimedBy: d.ClaimedBy,
	}, nil
}

func encodeCall(r CallRecord) ([]byte, error) {
	return marshal("call", callDisk{
		V: formatVersion, ID: r.ID, Firm: r.Firm, Start: r.Start, Answer: r.Answer, End: r.End,
		Direction: string(r.Direction), From: r.From, To: r.To, Agent: r.Agent, CallerAgent: r.CallerAgent, Team: r.Team, Outcome: string(r.Outcome),
		QueueWaitNS: int64(r.QueueWait), TalkTimeNS: int64(r.TalkTime), Cause: r.Cause, CallID: r.CallID,
		Transfers: transfersDisk(r.Transfers), HoldTimeNS: int64(r.HoldTime), WrapUpNS: int64(r.WrapUp),
		Recording: r.Recording,
	})
}

func transfersDisk(ts []Transfer) []transferDisk {
	if len(ts) == 0 {
		return nil
	}
	out := make([]transferDisk, len(ts))
	for i, t := range ts {
		out[i] = transferDisk(t)
	}
	return out
}

func decodeCall(data []byte) (CallRecord, error) {
	var d callDisk
	if err := unmarshal("call", data, &d); err != nil {
		return CallRecord{}, err
	}
	return CallRecord{
		ID: d.ID, Firm: d.Firm, Start: d.Start, Answer: d.Answer, End: d.End, Direction: callinfo.Direction(d.Direction),
		From: d.From, To: d.To, Agent: d.Agent, CallerAgent: d.CallerAgent, Team: d.Team, Outcome: callinfo.Outcome(d.Outcome),
		QueueWait: time.Duration(d.QueueWaitNS), TalkTime: time.Duration(d.TalkTimeNS), Cause: d.Cause, CallID: d.CallID,
		Transfers: transfersFromDisk(d.Transfers), HoldTime: time.Duration(d.HoldTimeNS), WrapUp: time.Duration(d.WrapUpNS),
		Recording: d.Recording,
	}, nil
}

func transfersFromDisk(ts []transferDisk) []Transfer {
	if len(ts) == 0 {
		return nil
	}
	out := make([]Transfer, len(ts))
	for i, t := range ts {
		out[i] = Transfer(t)
	}
	return out
}

func encodeVoicemail(v Voicemail) ([]byte, error) {
	return marshal("voicemail", voicemailDisk{
		V: formatVersion, ID: v.ID, Firm: v.Firm, Mailbox: v.Mailbox, Caller: v.Caller, Time: v.Time,
		DurationNS: int64(v.Duration), File: v.File, Codec: v.Codec, Read: v.Read,
	})
}

func decodeVoicemail(data []byte) (Voicemail, error) {
	var d voicemailDisk
	if err := unmarshal("voicemail", data, &d); err != nil {
		return Voicemail{}, err
	}
	return Voicemail{
		ID: d.ID, Firm: d.Firm, Mailbox: d.Mailbox, Caller: d.Caller, Time: d.Time,
		Duration: time.Duration(d.DurationNS), File: d.File, Codec: d.Codec, Read: d.Read,
	}, nil
}

func encodeRecording(r Recording) ([]byte, error) {
	return marshal("recording", recordingDisk{
		V: formatVersion, ID: r.ID, Firm: r.Firm, Call: r.Call, Agent: r.Agent, CallerAgent: r.CallerAgent,
		Team: r.Team, Start: r.Start, DurationNS: int64(r.Duration), File: r.File, Size: r.Size,
	})
}

func decodeRecording(data []byte) (Recording, error) {
	var d recordingDisk
	if err := unmarshal("recording", data, &d); err != nil {
		return Recording{}, err
	}
	return Recording{
		ID: d.ID, Firm: d.Firm, Call: d.Call, Agent: d.Agent, CallerAgent: d.CallerAgent, Team: d.Team,
		Start: d.Start, Duration: time.Duration(d.DurationNS), File: d.File, Size: d.Size,
	}, nil
}

func encodeSetting(value string) ([]byte, error) {
	return marshal("setting", settingDisk{V: formatVersion, Value: value})
}

func decodeSetting(data []byte) (string, error) {
	var d settingDisk
	err := unmarshal("setting", data, &d)
	return d.Value, err
}
