// Package rtp owns all media of the PBX: the RTP port pool, one media session per
// call leg (its own even local port, RTCP on port+1), the bridge that relays audio
// between two legs (symmetric RTP with NAT latching, SSRC/sequence/timestamp
// rewriting, PCMU<->PCMA transcoding, RFC 4733 telephone-event passthrough),
// prompt playback, receive hooks, RFC 4733 digit decoding, and SDP parsing and
// building on github.com/pion/sdp/v3.
//
// A Session is the one media-stream abstraction of the PBX. Its peer is either a
// plain RTP endpoint (Pool.Open: a UDP socket with symmetric RTP) or a WebRTC
// endpoint such as a browser (Pool.OpenWebRTC: a github.com/pion/webrtc/v4 peer
// connection with ICE-lite, DTLS-SRTP and rtcp-mux on the session's pool port).
// Only the packet transport differs: bridging, playback, the receive hook and
// DTMF decoding are the same code for both, so a browser can be bridged to a
// desk phone, hear prompts and hold music, and leave voicemail.
//
// Each Session has exactly one goroutine, its socket read loop. Bridged packets are
// forwarded on that goroutine straight into the destination session's outgoing
// stream, without allocations or locks: the outgoing stream is guarded by an atomic
// owner flag, so a bridge drops a packet instead of waiting while a prompt plays.
package rtp
