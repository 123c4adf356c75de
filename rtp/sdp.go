package rtp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
)

// Stream directions as written in SDP attributes (RFC 4566 section 6).
const (
	// SendRecv is a two-way stream, the default.
	SendRecv = "sendrecv"
	// SendOnly means the writer only sends (it puts the other side on hold).
	SendOnly = "sendonly"
	// RecvOnly means the writer only receives (the answer to a hold).
	RecvOnly = "recvonly"
	// Inactive means no media either way.
	Inactive = "inactive"
)

// ErrNoAudio is returned by ParseSDP when the description has no audio m= line.
var ErrNoAudio = errors.New("sdp: no audio media")

// MediaDesc is what the PBX needs from a peer's SDP: where to send, which of our
// codecs it offered (in its order) and how it signals DTMF.
type MediaDesc struct {
	// Addr is the connection address (media-level c= wins over session-level).
	// 0.0.0.0 is the legacy way of putting a call on hold.
	Addr netip.Addr
	// Port is the m= port; 0 means the stream was rejected or disabled.
	Port int
	// Codecs are the offered codecs the PBX knows, in offer order, each with the
	// payload type the peer used for it.
	Codecs []Codec
	// DTMFPT is the telephone-event/8000 payload type, or -1 when none was offered.
	DTMFPT int
	// Direction is sendrecv, sendonly, recvonly or inactive (default sendrecv).
	Direction string
	// Proto is the transport, normally "RTP/AVP"; WebRTC peers use
	// "UDP/TLS/RTP/SAVPF".
	Proto string
	// Fingerprint and ICE tell whether the description carries a DTLS
	// certificate fingerprint and ICE credentials (session or media level).
	Fingerprint, ICE bool
}

// WebRTC reports whether the stream is DTLS-SRTP, as browsers send it.
func (m MediaDesc) WebRTC() bool { return strings.HasPrefix(m.Proto, "UDP/TLS/RTP/SAVP") }

// AddrPort returns Addr:Port, the address the peer wants its media sent to.
func (m MediaDesc) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(m.Addr, uint16(m.Port))
}

// OnHold reports whether the peer asked not to receive media: a sendonly or
// inactive direction, or the legacy c=0.0.0.0.
func (m MediaDesc) OnHold() bool {
	if m.Direction == SendOnly || m.Direction == Inactive {
		return true
	}
	// Browsers write c=0.0.0.0 before ICE has a candidate; ICE, not c=, says
	// where their media goes.
	return m.Addr.IsUnspecified() && !m.WebRTC()
}

// AnswerDirection is the direction an answer takes to an offer's (RFC 3264
// section 6.1): a sendonly offer (the peer holds us) is answered recvonly.
func AnswerDirection(offered string) string {
	switch offered {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	}
	return SendRecv
}

// Offer errors: why CheckOffer refuses a description (answered 488).
var (
	ErrRejectedStream = errors.New("sdp: audio stream rejected (port 0)")
	ErrProfile        = errors.New("sdp: unsupported media profile")
	ErrNoDTLS         = errors.New("sdp: WebRTC offer without DTLS fingerprint or ICE credentials")
	ErrNoCodec        = errors.New("sdp: no common codec (PCMU, PCMA)")
)

// CheckOffer tells whether the PBX can answer an offer: plain RTP (RTP/AVP or
// RTP/AVPF), or WebRTC (UDP/TLS/RTP/SAVPF with a DTLS fingerprint and ICE
// credentials), with PCMU or PCMA. SRTP with SDES keys (RTP/SAVP) is not
// supported. It returns the parsed description when the answer is yes.
func CheckOffer(body []byte) (MediaDesc, error) {
	md, err := ParseSDP(body)
	if err != nil {
		return MediaDesc{}, err
	}
	switch {
	case md.Port == 0:
		return md, ErrRejectedStream
	case md.WebRTC():
		if !md.Fingerprint || !md.ICE {
			return md, ErrNoDTLS
		}
	case md.Proto != "RTP/AVP" && md.Proto != "RTP/AVPF":
		return md, fmt.Errorf("%w %s", ErrProfile, md.Proto)
	}
	if _, ok := pickCodec(md, Supported); !ok {
		return md, ErrNoCodec
	}
	return md, nil
}

// rtpmapCodec is what an a=rtpmap line says about a payload type.
type rtpmapCodec struct {
	Name      string
	ClockRate uint32
}

// rtpmaps reads a stream's a=rtpmap lines ("96 telephone-event/8000"), on top of
// the static payload types 0 (PCMU) and 8 (PCMA) that need none. pion/sdp's
// GetCodecMap does the same for every kind of line with fmt.Sscanf, a tenth of
// a call's CPU at low call rates (bench/README.md).
func rtpmaps(attrs []sdp.Attribute) map[uint8]rtpmapCodec {
	known := map[uint8]rtpmapCodec{0: {"PCMU", clockRate}, 8: {"PCMA", clockRate}}
	for _, a := range attrs {
		if a.Key != "rtpmap" {
			continue
		}
		ptText, enc, ok := strings.Cut(strings.TrimSpace(a.Value), " ")
		if !ok {
			continue
		}
		pt, err := strconv.ParseUint(ptText, 10, 7)
		if err != nil {
			continue
		}
		if _, seen := known[uint8(pt)]; seen {
			continue // the first line wins, and 0 and 8 stay what RFC 3551 says
		}
		name, rest, _ := strings.Cut(strings.TrimSpace(enc), "/")
		rateText, _, _ := strings.Cut(rest, "/")
		rate, err := strconv.ParseUint(rateText, 10, 32)
		if rateText == "" {
			rate, err = 0, nil // no clock rate: taken as the call's
		}
		if err != nil || name == "" {
			continue
		}
		known[uint8(pt)] = rtpmapCodec{Name: name, ClockRate: uint32(rate)}
	}
	return known
}

// ParseSDP extracts the first audio stream from an SDP body. Static payload types
// 0 and 8 are recognised without rtpmap; codecs the PBX does not know are left out
// of Codecs. A stream with port 0 parses fine (Port is 0).
func ParseSDP(body []byte) (MediaDesc, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return MediaDesc{}, fmt.Errorf("sdp: parse: %w", err)
	}
	var md *sdp.MediaDescription
	for _, m := range sd.MediaDescriptions {
		if m != nil && m.MediaName.Media == "audio" {
			md = m
			break
		}
	}
	if md == nil {
		return MediaDesc{}, ErrNoAudio
	}

	out := MediaDesc{
		Port:      md.MediaName.Port.Value,
		DTMFPT:    -1,
		Direction: SendRecv,
		Proto:     strings.Join(md.MediaName.Protos, "/"),
	}
	if out.Port < 0 || out.Port > 65535 {
		return MediaDesc{}, fmt.Errorf("sdp: audio port %d out of range", out.Port)
	}

	conn := md.ConnectionInformation
	if conn == nil {
		conn = sd.ConnectionInformation
	}
	if conn == nil || conn.Address == nil {
		return MediaDesc{}, errors.New("sdp: no connection address (c=) for audio")
	}
	addr, err := netip.ParseAddr(conn.Address.Address)
	if err != nil {
		return MediaDesc{}, fmt.Errorf("sdp: connection address %q is not an IP address: %w", conn.Address.Address, err)
	}
	out.Addr = addr.Unmap()

	// Only this stream's rtpmap lines count: a video m= line may reuse the same
	// dynamic payload numbers for something else.
	known := rtpmaps(md.Attributes)
	for _, f := range md.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue // non-numeric formats belong to non-RTP transports
		}
		pt := uint8(n)
		c, ok := known[pt]
		if !ok || (c.ClockRate != 0 && c.ClockRate != clockRate) {
			continue
		}
		switch {
		case strings.EqualFold(c.Name, "telephone-event"):
			if out.DTMFPT < 0 {
				out.DTMFPT = int(pt)
			}
		case codecLaw(Codec{Name: c.Name}) != lawNone:
			name := strings.ToUpper(c.Name)
			if !slices.ContainsFunc(out.Codecs, func(x Codec) bool { return x.Name == name }) {
				out.Codecs = append(out.Codecs, Codec{Name: name, PT: pt})
			}
		}
	}

	for _, attrs := range [][]sdp.Attribute{sd.Attributes, md.Attributes} {
		for _, a := range attrs {
			switch a.Key {
			case "fingerprint":
				out.Fingerprint = out.Fingerprint || strings.TrimSpace(a.Value) != ""
			case "ice-ufrag":
				out.ICE = out.ICE || strings.TrimSpace(a.Value) != ""
			}
		}
	}
	if dir, ok := direction(md.Attributes); ok {
		out.Direction = dir
	} else if dir, ok := direction(sd.Attributes); ok {
		out.Direction = dir
	}
	return out, nil
}

func direction(attrs []sdp.Attribute) (string, bool) {
	for _, a := range attrs {
		switch a.Key {
		case SendRecv, SendOnly, RecvOnly, Inactive:
			return a.Key, true
		}
	}
	return "", false
}

// SDPParams describes the PBX's side of one leg for BuildSDP.
type SDPParams struct {
	// SessionID and Version go into o=; bump Version on every re-offer.
	SessionID, Version uint64
	// Addr and Port are the session's local media address (or the public IP).
	Addr netip.Addr
	Port int
	// Codecs are offered/answered in this order with their payload types.
	Codecs []Codec
	// DTMFPT is the telephone-event payload type, or -1 to leave it out.
	DTMFPT int
	// Direction defaults to sendrecv when empty.
	Direction string
}

// BuildSDP writes a one-stream audio SDP (CRLF line endings) for p.
func BuildSDP(p SDPParams) ([]byte, error) {
	if !p.Addr.IsValid() {
		return nil, errors.New("sdp: build: no address")
	}
	if p.Port < 0 || p.Port > 65535 {
		return nil, fmt.Errorf("sdp: build: port %d out of range", p.Port)
	}
	if len(p.Codecs) == 0 {
		return nil, errors.New("sdp: build: no codecs")
	}
	dir := p.Direction
	switch dir {
	case "":
		dir = SendRecv
	case SendRecv, SendOnly, RecvOnly, Inactive:
	default:
		return nil, fmt.Errorf("sdp: build: invalid direction %q", p.Direction)
	}
	if p.DTMFPT > 127 || p.DTMFPT < -1 {
		return nil, fmt.Errorf("sdp: build: telephone-event payload type %d out of range", p.DTMFPT)
	}

	addr := p.Addr.Unmap()
	addrType := "IP4"
	if addr.Is6() {
		addrType = "IP6"
	}
	md := &sdp.MediaDescription{
		MediaName: sdp.MediaName{
			Media:  "audio",
			Port:   sdp.RangedPort{Value: p.Port},
			Protos: []string{"RTP", "AVP"},
		},
	}
	seen := make(map[uint8]bool, len(p.Codecs)+1)
	for _, c := range p.Codecs {
		if c.PT > 127 || seen[c.PT] {
			return nil, fmt.Errorf("sdp: build: codec %s: payload type invalid or used twice", c)
		}
		seen[c.PT] = true
		md.WithCodec(c.PT, c.Name, clockRate, 0, "")
	}
	if p.DTMFPT >= 0 {
		if seen[uint8(p.DTMFPT)] {
			return nil, fmt.Errorf("sdp: build: telephone-event payload type %d already used by a codec", p.DTMFPT)
		}
		md.WithCodec(uint8(p.DTMFPT), "telephone-event", clockRate, 0, "0-16")
	}
	md.WithValueAttribute("ptime", strconv.Itoa(int(frameInterval/time.Millisecond)))
	md.WithPropertyAttribute(dir)

	sd := sdp.SessionDescription{
		Origin: sdp.Origin{
			Username:       "switchboard",
			SessionID:      p.SessionID,
			SessionVersion: p.Version,
			NetworkType:    "IN",
			AddressType:    addrType,
			UnicastAddress: addr.String(),
		},
		SessionName: "switchboard",
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: addrType,
			Address:     &sdp.Address{Address: addr.String()},
		},
		TimeDescriptions:  []sdp.TimeDescription{{Timing: sdp.Timing{StartTime: 0, StopTime: 0}}},
		MediaDescriptions: []*sdp.MediaDescription{md},
	}
	b, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("sdp: build: %w", err)
	}
	return b, nil
}

// Negotiate picks the first codec in the peer's offer order that is also in
// supported (matched by name), returning it with the peer's payload type. It
// fails for a rejected stream (port 0) or a transport other than plain RTP.
func Negotiate(offer MediaDesc, supported []Codec) (Codec, bool) {
	if offer.Port == 0 {
		return Codec{}, false
	}
	if offer.Proto != "" && offer.Proto != "RTP/AVP" && offer.Proto != "RTP/AVPF" {
		return Codec{}, false
	}
	return pickCodec(offer, supported)
}

// pickCodec is Negotiate's codec choice, whatever the transport.
func pickCodec(offer MediaDesc, supported []Codec) (Codec, bool) {
	for _, c := range offer.Codecs {
		for _, s := range supported {
			if strings.EqualFold(c.Name, s.Name) {
				return c, true
			}
		}
	}
	return Codec{}, false
}
