// Package voicemail owns the voicemail applications that run on an answered
// call: Deposit (greeting, beep, record the caller into a G.711 WAV file and
// index it in the store) and Retrieve (the *97/*98 listening menu), plus the
// DTMF digit collection the PBX shares with its IVRs and the on-disk layout of
// the message files.
//
// Media comes from an rtp.Session: prompts are played with Session.Play, the
// caller's audio arrives through Session.OnAudio and digits through
// Session.DTMF. Persistence follows the design's rule for voicemail: the WAV is
// written to a temporary name, fsynced and renamed, and only then is the index
// entry committed (with fsync), so the store never points at a missing file.
// Message-waiting indication is left to the caller: Retrieve reports every
// change through RetrieveOptions.OnChange and the PBX sends the NOTIFYs.
package voicemail

// Prompts supplies the audio of named prompts as 8 kHz 16-bit samples.
// *sounds.Library satisfies it. The names used by this package are
// "greeting", "beep", "vm-pin", "vm-bad-pin", "vm-none", "vm-message",
// "vm-menu", "vm-deleted", "vm-saved" and "vm-goodbye"; the PBX plays
// "vm-mailbox" before collecting a mailbox number for *98.
type Prompts interface {
	Get(name string) ([]int16, error)
}
