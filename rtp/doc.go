// Package rtp owns all media of the PBX: the RTP port pool, one media session per
// call leg (its own even local port, RTCP on port+1), the bridge that relays audio
// between two legs (symmetric RTP with NAT latching, SSRC/sequence/timestamp
// rewriting, PCMU<->PCMA transcoding, RFC 4733 telephone-event passthrough),
// prompt playback, receive hooks, RFC 4733 digit decoding, and SDP parsing and
// building on github.com/pion/sdp/v3.
//
// Each Session has exactly one goroutine, its socket read loop. Bridged packets are
// forwarded on that goroutine straight into the destination session's outgoing
// stream, without allocations or locks: the outgoing stream is guarded by an atomic
// owner flag, so a bridge drops a packet instead of waiting while a prompt plays.
package rtp
