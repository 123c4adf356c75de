package testphone

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
)

// Static G.711 payload types (RFC 3551) and the dynamic type this phone offers
// for RFC 4733 telephone events.
const (
	ptPCMU         = 0
	ptPCMA         = 8
	ptEventDefault = 101
)

// Media directions as written in SDP attributes.
const (
	dirSendRecv = "sendrecv"
	dirSendOnly = "sendonly"
	dirRecvOnly = "recvonly"
	dirInactive = "inactive"
)

// mediaOffer is what this phone writes into an SDP body.
type mediaOffer struct {
	addr      netip.AddrPort
	codecPT   uint8
	codecName string
	eventPT   int // <0: no telephone-event line
	direction string
	version   uint64
}

// remoteMedia is the part of a peer's SDP the phone acts on.
type remoteMedia struct {
	addr      netip.AddrPort // zero port means "do not send" (RFC 3264 §8.4 hold or rejected stream)
	codecs    map[string]uint8
	order     []string // the codecs of codecs in the order the SDP lists them
	eventPT   int      // -1 when the peer did not list telephone-event
	direction string
	proto     string // "RTP/AVP", "UDP/TLS/RTP/SAVPF"...
	// webrtc is set when the stream can be answered by a WebRTC peer: the
	// WebRTC profile with ICE credentials and a DTLS fingerprint.
	webrtc bool
}

// profileWebRTC is the media profile of a WebRTC stream (RFC 8829).
const profileWebRTC = "UDP/TLS/RTP/SAVPF"

// payloadTypeFor returns the payload type the peer uses for codec, and whether the
// peer listed it at all.
func (r remoteMedia) payloadTypeFor(codec string) (uint8, bool) {
	pt, ok := r.codecs[codec]
	return pt, ok
}

// buildSDP writes an audio-only SDP body with exactly one codec and, optionally,
// telephone-event.
func buildSDP(o mediaOffer) ([]byte, error) {
	ip := o.addr.Addr().Unmap()
	addrType := "IP4"
	if ip.Is6() {
		addrType = "IP6"
	}
	formats := []string{strconv.Itoa(int(o.codecPT))}
	attrs := []sdp.Attribute{
		sdp.NewAttribute("rtpmap", fmt.Sprintf("%d %s/8000", o.codecPT, o.codecName)),
	}
	if o.eventPT >= 0 {
		formats = append(formats, strconv.Itoa(o.eventPT))
		attrs = append(attrs,
			sdp.NewAttribute("rtpmap", fmt.Sprintf("%d telephone-event/8000", o.eventPT)),
			sdp.NewAttribute("fmtp", fmt.Sprintf("%d 0-16", o.eventPT)),
		)
	}
	attrs = append(attrs, sdp.NewAttribute("ptime", "20"), sdp.NewPropertyAttribute(o.direction))

	sessID := uint64(time.Now().UnixNano()) & 0x7fffffffffff
	desc := sdp.SessionDescription{
		Version: 0,
		Origin: sdp.Origin{
			Username:       "-",
			SessionID:      sessID,
			SessionVersion: o.version,
			NetworkType:    "IN",
			AddressType:    addrType,
			UnicastAddress: ip.String(),
		},
		SessionName: "testphone",
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: addrType,
			Address:     &sdp.Address{Address: ip.String()},
		},
		TimeDescriptions: []sdp.TimeDescription{{Timing: sdp.Timing{}}},
		MediaDescriptions: []*sdp.MediaDescription{{
			MediaName: sdp.MediaName{
				Media:   "audio",
				Port:    sdp.RangedPort{Value: int(o.addr.Port())},
				Protos:  []string{"RTP", "AVP"},
				Formats: formats,
			},
			Attributes: attrs,
		}},
	}
	b, err := desc.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal sdp: %w", err)
	}
	return b, nil
}

var errNoAudio = errors.New("sdp has no audio stream")

// parseSDP extracts the first audio stream of body: where to send, which payload
// types the peer uses for PCMU, PCMA and telephone-event, and the direction.
func parseSDP(body []byte) (remoteMedia, error) {
	var desc sdp.SessionDescription
	if err := desc.Unmarshal(body); err != nil {
		return remoteMedia{}, fmt.Errorf("parse sdp: %w", err)
	}
	var md *sdp.MediaDescription
	for _, m := range desc.MediaDescriptions {
		if m != nil && m.MediaName.Media == "audio" {
			md = m
			break
		}
	}
	if md == nil {
		return remoteMedia{}, errNoAudio
	}

	rm := remoteMedia{codecs: make(map[string]uint8), eventPT: -1, direction: dirSendRecv}

	conn := desc.ConnectionInformation
	if md.ConnectionInformation != nil {
		conn = md.ConnectionInformation
	}
	if conn == nil || conn.Address == nil {
		return remoteMedia{}, errors.New("parse sdp: no connection address")
	}
	// The address may carry a TTL or count suffix ("224.2.1.1/127"); only the host matters.
	host, _, _ := strings.Cut(conn.Address.Address, "/")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return remoteMedia{}, fmt.Errorf("parse sdp: connection address %q: %w", host, err)
	}
	port := md.MediaName.Port.Value
	if port < 0 || port > 65535 {
		return remoteMedia{}, fmt.Errorf("parse sdp: media port %d out of range", port)
	}
	rm.addr = netip.AddrPortFrom(ip, uint16(port))
	rm.proto = strings.Join(md.MediaName.Protos, "/")
	if rm.proto == profileWebRTC {
		_, ufrag := md.Attribute("ice-ufrag")
		_, fp := md.Attribute("fingerprint")
		if !fp {
			_, fp = desc.Attribute("fingerprint")
		}
		if !ufrag {
			_, ufrag = desc.Attribute("ice-ufrag")
		}
		rm.webrtc = ufrag && fp
	}

	for _, f := range md.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 8)
		if err != nil || n > 127 {
			continue
		}
		pt := uint8(n)
		name := ""
		if c, err := desc.GetCodecForPayloadType(pt); err == nil {
			name = strings.ToUpper(c.Name)
		} else {
			// pion resolves static types itself, but fall back for robustness.
			switch pt {
			case ptPCMU:
				name = "PCMU"
			case ptPCMA:
				name = "PCMA"
			}
		}
		switch name {
		case "PCMU", "PCMA":
			if _, dup := rm.codecs[name]; !dup {
				rm.codecs[name] = pt
				rm.order = append(rm.order, name)
			}
		case "TELEPHONE-EVENT":
			if rm.eventPT < 0 {
				rm.eventPT = int(pt)
			}
		}
	}

	// A media-level direction overrides a session-level one (RFC 4566 §6).
	for _, a := range desc.Attributes {
		if isDirection(a.Key) {
			rm.direction = a.Key
		}
	}
	for _, a := range md.Attributes {
		if isDirection(a.Key) {
			rm.direction = a.Key
		}
	}
	return rm, nil
}

// withDirection rewrites every direction attribute of body to dir. A WebRTC
// peer writes its own SDP, and pion has no way to set a transceiver's direction,
// so a hold is announced on the wire the way a browser's would read.
func withDirection(body []byte, dir string) []byte {
	lines := strings.SplitAfter(string(body), "\n")
	for i, l := range lines {
		if a, ok := strings.CutPrefix(strings.TrimRight(l, "\r\n"), "a="); ok && isDirection(a) {
			lines[i] = "a=" + dir + l[len(strings.TrimRight(l, "\r\n")):]
		}
	}
	return []byte(strings.Join(lines, ""))
}

func isDirection(s string) bool {
	switch s {
	case dirSendRecv, dirSendOnly, dirRecvOnly, dirInactive:
		return true
	}
	return false
}

// answerDirection is the direction an answerer uses for an offered one (RFC 3264 §6.1).
func answerDirection(offered string) string {
	switch offered {
	case dirSendOnly:
		return dirRecvOnly
	case dirRecvOnly:
		return dirSendOnly
	case dirInactive:
		return dirInactive
	}
	return dirSendRecv
}

// canSend reports whether a stream with our local direction may carry our audio.
func canSend(local string) bool { return local == dirSendRecv || local == dirSendOnly }
