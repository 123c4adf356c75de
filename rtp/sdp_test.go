package rtp

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

const baresipSDP = `v=0
o=- 1594853203 2961418843 IN IP4 192.168.1.20
s=-
c=IN IP4 192.168.1.20
t=0 0
m=audio 10002 RTP/AVP 9 0 8 101
b=AS:64
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
a=label:1
a=ssrc:1437491837 cname:9a4c2f66-83b1-4b5b-9d6e-0b1f33a7bc11
a=rtcp-mux
a=ptime:20
`

const linphoneSDP = `v=0
o=alice 3219 1872 IN IP4 10.0.0.5
s=Talk
c=IN IP4 10.0.0.5
t=0 0
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 speex/16000
a=fmtp:97 vbr=on
a=rtpmap:98 speex/8000
a=fmtp:98 vbr=on
a=fmtp:18 annexb=yes
a=rtpmap:101 telephone-event/48000
a=rtpmap:99 telephone-event/16000
a=rtpmap:100 telephone-event/8000
a=rtcp-fb:* trr-int 1000
a=rtcp-fb:* ccm tmmbr
m=video 9078 RTP/AVP 96
a=rtpmap:96 VP8/90000
`

const sippSDP = `v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
`

const holdSendonlySDP = `v=0
o=- 1 2 IN IP4 192.0.2.7
s=-
c=IN IP4 192.0.2.7
t=0 0
m=audio 4000 RTP/AVP 8 101
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=sendonly
`

const holdZeroSDP = `v=0
o=- 1 3 IN IP4 192.0.2.7
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 4000 RTP/AVP 0 8
`

func TestParseSDP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want MediaDesc
	}{
		{"baresip CRLF", crlf(baresipSDP), MediaDesc{
			Addr: netip.MustParseAddr("192.168.1.20"), Port: 10002,
			Codecs: []Codec{PCMU, PCMA}, DTMFPT: 101, Direction: SendRecv, Proto: "RTP/AVP",
		}},
		{"linphone LF only, 8 kHz telephone-event picked, video ignored", linphoneSDP, MediaDesc{
			Addr: netip.MustParseAddr("10.0.0.5"), Port: 7078,
			Codecs: []Codec{PCMU, PCMA}, DTMFPT: 100, Direction: SendRecv, Proto: "RTP/AVP",
		}},
		{"SIPp uac", crlf(sippSDP), MediaDesc{
			Addr: loopback, Port: 6000, Codecs: []Codec{PCMU}, DTMFPT: -1, Direction: SendRecv, Proto: "RTP/AVP",
		}},
		{"hold with sendonly, static PCMA without rtpmap", crlf(holdSendonlySDP), MediaDesc{
			Addr: netip.MustParseAddr("192.0.2.7"), Port: 4000,
			Codecs: []Codec{PCMA}, DTMFPT: 101, Direction: SendOnly, Proto: "RTP/AVP",
		}},
		{"legacy hold c=0.0.0.0", holdZeroSDP, MediaDesc{
			Addr: netip.MustParseAddr("0.0.0.0"), Port: 4000,
			Codecs: []Codec{PCMU, PCMA}, DTMFPT: -1, Direction: SendRecv, Proto: "RTP/AVP",
		}},
		{"media-level c= and session-level direction, port 0", "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\na=recvonly\nm=audio 0 RTP/AVP 8 0\nc=IN IP6 2001:db8::5\n", MediaDesc{
			Addr: netip.MustParseAddr("2001:db8::5"), Port: 0,
			Codecs: []Codec{PCMA, PCMU}, DTMFPT: -1, Direction: RecvOnly, Proto: "RTP/AVP",
		}},
		{"rtpmap without a clock rate, a static type remapped, a payload type mapped twice", "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 5000 RTP/AVP 0 8 101 102\na=rtpmap:0 PCMU/16000\na=rtpmap:101 telephone-event\na=rtpmap:102 PCMA/8000\na=rtpmap:102 opus/48000/2\n", MediaDesc{
			Addr: netip.MustParseAddr("192.0.2.1"), Port: 5000,
			Codecs: []Codec{PCMU, PCMA}, DTMFPT: 101, Direction: SendRecv, Proto: "RTP/AVP",
		}},
		{"lower-case names and SRTP profile kept for Negotiate", "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 5000 RTP/SAVP 0\nc=IN IP4 192.0.2.1\na=rtpmap:0 pcmu/8000\na=inactive\n", MediaDesc{
			Addr: netip.MustParseAddr("192.0.2.1"), Port: 5000,
			Codecs: []Codec{PCMU}, DTMFPT: -1, Direction: Inactive, Proto: "RTP/SAVP",
		}},
		{"only codecs we do not know", "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 5000 RTP/AVP 9 18\n", MediaDesc{
			Addr: netip.MustParseAddr("192.0.2.1"), Port: 5000, DTMFPT: -1, Direction: SendRecv, Proto: "RTP/AVP",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSDP([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseSDP: %v", err)
			}
			if got.Addr != tt.want.Addr || got.Port != tt.want.Port || got.DTMFPT != tt.want.DTMFPT ||
				got.Direction != tt.want.Direction || got.Proto != tt.want.Proto || !slices.Equal(got.Codecs, tt.want.Codecs) {
				t.Errorf("ParseSDP =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestParseSDPErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		is         error
	}{
		{"missing s=", "v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 5000 RTP/AVP 0\n", nil},
		{"empty", "", nil},
		{"no audio", "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=video 5000 RTP/AVP 96\n", ErrNoAudio},
		{"no c= anywhere", "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 5000 RTP/AVP 0\n", nil},
		{"hostname in c=", "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 pbx.example.com\nt=0 0\nm=audio 5000 RTP/AVP 0\n", nil},
		{"garbage", "hello world", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			md, err := ParseSDP([]byte(tt.body))
			if err == nil {
				t.Fatalf("ParseSDP = %+v, want error", md)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("error %v, want %v", err, tt.is)
			}
		})
	}
}

func TestBuildSDPRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []SDPParams{
		{SessionID: 42, Version: 1, Addr: loopback, Port: 20000, Codecs: Supported, DTMFPT: DefaultDTMFPT},
		{SessionID: 1 << 62, Version: 7, Addr: netip.MustParseAddr("203.0.113.9"), Port: 31000, Codecs: []Codec{PCMA}, DTMFPT: 96, Direction: SendOnly},
		{SessionID: 3, Version: 3, Addr: netip.MustParseAddr("2001:db8::1"), Port: 0, Codecs: []Codec{PCMU}, DTMFPT: -1, Direction: Inactive},
	}
	for _, p := range tests {
		body, err := BuildSDP(p)
		if err != nil {
			t.Fatalf("BuildSDP(%+v): %v", p, err)
		}
		s := string(body)
		for _, line := range []string{"o=switchboard ", "s=switchboard\r\n", "t=0 0\r\n", "a=ptime:20\r\n"} {
			if !strings.Contains(s, line) {
				t.Errorf("SDP lacks %q:\n%s", line, s)
			}
		}
		if p.DTMFPT >= 0 && !strings.Contains(s, "a=fmtp:"+strconv.Itoa(p.DTMFPT)+" 0-16\r\n") {
			t.Errorf("SDP lacks telephone-event fmtp:\n%s", s)
		}
		md, err := ParseSDP(body)
		if err != nil {
			t.Fatalf("ParseSDP(BuildSDP): %v\n%s", err, s)
		}
		wantDir := p.Direction
		if wantDir == "" {
			wantDir = SendRecv
		}
		if md.Addr != p.Addr || md.Port != p.Port || !slices.Equal(md.Codecs, p.Codecs) || md.DTMFPT != p.DTMFPT || md.Direction != wantDir {
			t.Errorf("round trip: got %+v from %+v", md, p)
		}
	}
	if !bytes.HasPrefix(mustBuild(t, tests[0]), []byte("v=0\r\no=switchboard 42 1 IN IP4 127.0.0.1\r\n")) {
		t.Errorf("unexpected header:\n%s", mustBuild(t, tests[0]))
	}
}

func mustBuild(t *testing.T, p SDPParams) []byte {
	t.Helper()
	b, err := BuildSDP(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuildSDPErrors(t *testing.T) {
	t.Parallel()
	ok := SDPParams{Addr: loopback, Port: 20000, Codecs: Supported, DTMFPT: 101}
	tests := []struct {
		name string
		edit func(*SDPParams)
	}{
		{"no addr", func(p *SDPParams) { p.Addr = netip.Addr{} }},
		{"port", func(p *SDPParams) { p.Port = 70000 }},
		{"no codecs", func(p *SDPParams) { p.Codecs = nil }},
		{"direction", func(p *SDPParams) { p.Direction = "sideways" }},
		{"dtmf collides", func(p *SDPParams) { p.DTMFPT = 8 }},
		{"dtmf range", func(p *SDPParams) { p.DTMFPT = 200 }},
		{"duplicate PT", func(p *SDPParams) { p.Codecs = []Codec{PCMU, {Name: "PCMA", PT: 0}} }},
	}
	for _, tt := range tests {
		p := ok
		tt.edit(&p)
		if _, err := BuildSDP(p); err == nil {
			t.Errorf("%s: BuildSDP succeeded", tt.name)
		}
	}
}

func TestNegotiate(t *testing.T) {
	t.Parallel()
	pcmu96 := Codec{Name: "PCMU", PT: 0}
	tests := []struct {
		name      string
		offer     MediaDesc
		supported []Codec
		want      Codec
		ok        bool
	}{
		{"offer order wins", MediaDesc{Port: 1, Codecs: []Codec{PCMA, PCMU}}, Supported, PCMA, true},
		{"first supported", MediaDesc{Port: 1, Codecs: []Codec{PCMU, PCMA}}, []Codec{PCMA}, PCMA, true},
		{"only PCMU", MediaDesc{Port: 1, Codecs: []Codec{pcmu96}}, Supported, PCMU, true},
		{"nothing common", MediaDesc{Port: 1, Codecs: []Codec{PCMU}}, []Codec{PCMA}, Codec{}, false},
		{"no codecs", MediaDesc{Port: 1}, Supported, Codec{}, false},
		{"rejected stream", MediaDesc{Port: 0, Codecs: []Codec{PCMU}}, Supported, Codec{}, false},
		{"SRTP profile", MediaDesc{Port: 1, Proto: "RTP/SAVP", Codecs: []Codec{PCMU}}, Supported, Codec{}, false},
		{"AVPF is plain RTP", MediaDesc{Port: 1, Proto: "RTP/AVPF", Codecs: []Codec{PCMA}}, Supported, PCMA, true},
	}
	for _, tt := range tests {
		got, ok := Negotiate(tt.offer, tt.supported)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: Negotiate = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMediaDescOnHold(t *testing.T) {
	t.Parallel()
	for _, body := range []string{holdSendonlySDP, holdZeroSDP} {
		md, err := ParseSDP([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if !md.OnHold() {
			t.Errorf("OnHold false for %+v", md)
		}
	}
	md, _ := ParseSDP([]byte(sippSDP))
	if md.OnHold() || md.AddrPort() != netip.MustParseAddrPort("127.0.0.1:6000") {
		t.Errorf("SIPp SDP: OnHold %v AddrPort %v", md.OnHold(), md.AddrPort())
	}
}

func FuzzParseSDP(f *testing.F) {
	for _, s := range []string{baresipSDP, crlf(baresipSDP), linphoneSDP, sippSDP, holdSendonlySDP, holdZeroSDP,
		"v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 0 RTP/AVP 8 0\nc=IN IP6 2001:db8::5\n"} {
		f.Add([]byte(s))
	}
	f.Add([]byte(chromeSDP))
	f.Fuzz(func(t *testing.T, body []byte) {
		if md, err := CheckOffer(body); err == nil && (md.Port == 0 || len(md.Codecs) == 0) {
			t.Fatalf("CheckOffer accepted an offer it cannot answer: %+v", md)
		}
		md, err := ParseSDP(body)
		if err != nil {
			return
		}
		if md.Port < 0 || md.Port > 65535 || !md.Addr.IsValid() || md.DTMFPT < -1 || md.DTMFPT > 127 {
			t.Fatalf("ParseSDP accepted nonsense: %+v", md)
		}
		for _, c := range md.Codecs {
			if codecLaw(c) == lawNone {
				t.Fatalf("unknown codec %v reported", c)
			}
		}
		if len(md.Codecs) == 0 {
			return
		}
		dtmf := md.DTMFPT
		if slices.ContainsFunc(md.Codecs, func(c Codec) bool { return int(c.PT) == dtmf }) {
			dtmf = -1
		}
		out, err := BuildSDP(SDPParams{Addr: md.Addr, Port: md.Port, Codecs: md.Codecs, DTMFPT: dtmf, Direction: md.Direction})
		if err != nil {
			t.Fatalf("BuildSDP of a parsed description: %v (%+v)", err, md)
		}
		again, err := ParseSDP(out)
		if err != nil {
			t.Fatalf("reparse: %v\n%s", err, out)
		}
		if again.Addr != md.Addr || again.Port != md.Port || !slices.Equal(again.Codecs, md.Codecs) || again.Direction != md.Direction {
			t.Fatalf("round trip changed %+v into %+v", md, again)
		}
	})
}

// chromeSDP is what Chromium (through JsSIP) offers: DTLS-SRTP, ICE, Opus first.
const chromeSDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
	"a=msid-semantic: WMS\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\n" +
	"a=rtcp:9 IN IP4 0.0.0.0\r\na=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0\r\n" +
	"a=ice-ufrag:abcd\r\na=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa\r\na=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n" +
	"a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\n" +
	"a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\n" +
	"a=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n"

func TestCheckOffer(t *testing.T) {
	t.Parallel()
	noFingerprint := strings.Replace(chromeSDP, "a=fingerprint:", "a=x-fingerprint:", 1)
	savp := strings.Replace(sippSDP, "RTP/AVP", "RTP/SAVP", 1)
	g729 := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
	rejected := strings.Replace(sippSDP, "m=audio 6000", "m=audio 0", 1)
	for _, tc := range []struct {
		name   string
		sdp    string
		want   error
		webrtc bool
	}{
		{"plain", sippSDP, nil, false},
		{"baresip", baresipSDP, nil, false},
		{"browser", chromeSDP, nil, true},
		{"browser without fingerprint", noFingerprint, ErrNoDTLS, true},
		{"SDES SRTP", savp, ErrProfile, false},
		{"only G.729", g729, ErrNoCodec, false},
		{"rejected stream", rejected, ErrRejectedStream, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md, err := CheckOffer([]byte(tc.sdp))
			if !errors.Is(err, tc.want) {
				t.Fatalf("CheckOffer: %v, want %v", err, tc.want)
			}
			if md.WebRTC() != tc.webrtc {
				t.Errorf("WebRTC() = %v, want %v", md.WebRTC(), tc.webrtc)
			}
		})
	}
	if _, err := CheckOffer([]byte("not sdp")); err == nil {
		t.Error("CheckOffer accepted garbage")
	}
	md, _ := ParseSDP([]byte(chromeSDP))
	if md.OnHold() {
		t.Error("a browser's c=0.0.0.0 reads as hold")
	}
	if md.DTMFPT != 126 || len(md.Codecs) != 2 {
		t.Errorf("browser offer: dtmf %d codecs %v", md.DTMFPT, md.Codecs)
	}
}
