package testphone

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestBuildParseSDPRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		offer mediaOffer
	}{
		{name: "pcmu with events", offer: mediaOffer{addr: netip.MustParseAddrPort("127.0.0.1:40000"), codecPT: 0, codecName: "PCMU", eventPT: 101, direction: dirSendRecv, version: 1}},
		{name: "pcma sendonly no events", offer: mediaOffer{addr: netip.MustParseAddrPort("127.0.0.1:40002"), codecPT: 8, codecName: "PCMA", eventPT: -1, direction: dirSendOnly, version: 7}},
		{name: "ipv6", offer: mediaOffer{addr: netip.MustParseAddrPort("[::1]:40004"), codecPT: 0, codecName: "PCMU", eventPT: 96, direction: dirInactive, version: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := buildSDP(tt.offer)
			if err != nil {
				t.Fatal(err)
			}
			rm, err := parseSDP(b)
			if err != nil {
				t.Fatalf("parse own SDP: %v\n%s", err, b)
			}
			if rm.addr != tt.offer.addr || rm.direction != tt.offer.direction || rm.eventPT != tt.offer.eventPT {
				t.Errorf("parsed %+v from offer %+v", rm, tt.offer)
			}
			if pt, ok := rm.payloadTypeFor(tt.offer.codecName); !ok || pt != tt.offer.codecPT {
				t.Errorf("codec %s pt = %d, %v", tt.offer.codecName, pt, ok)
			}
		})
	}
}

func TestParseSDP(t *testing.T) {
	t.Parallel()
	const base = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\n"
	tests := []struct {
		name    string
		body    string
		wantErr bool
		addr    string
		dir     string
		event   int
		codecs  string // e.g. "PCMA=8,PCMU=0"
	}{
		{name: "static types without rtpmap, bare LF, session direction",
			body: "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.2\nt=0 0\na=recvonly\nm=audio 5004 RTP/AVP 8 0\n",
			addr: "10.0.0.2:5004", dir: dirRecvOnly, event: -1, codecs: "PCMA=8,PCMU=0"},
		{name: "media-level connection and direction win",
			body: base + "c=IN IP4 10.0.0.2\r\nt=0 0\r\na=sendonly\r\nm=audio 6000 RTP/AVP 0 98\r\nc=IN IP4 10.0.0.3\r\na=rtpmap:98 telephone-event/8000\r\na=inactive\r\n",
			addr: "10.0.0.3:6000", dir: dirInactive, event: 98, codecs: "PCMU=0"},
		{name: "hold by port zero",
			body: base + "c=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n",
			addr: "10.0.0.2:0", dir: dirSendRecv, event: -1, codecs: "PCMU=0"},
		{name: "video only", body: base + "c=IN IP4 10.0.0.2\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n", wantErr: true},
		{name: "no connection", body: base + "t=0 0\r\nm=audio 5000 RTP/AVP 0\r\n", wantErr: true},
		{name: "hostname connection", body: base + "c=IN IP4 pbx.example\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n", wantErr: true},
		{name: "missing s= line", body: "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n", wantErr: true},
		{name: "garbage", body: "hello", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rm, err := parseSDP([]byte(tt.body))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed %+v, want error", rm)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rm.addr.String() != tt.addr || rm.direction != tt.dir || rm.eventPT != tt.event {
				t.Errorf("got addr %v dir %s event %d", rm.addr, rm.direction, rm.eventPT)
			}
			for _, kv := range strings.Split(tt.codecs, ",") {
				name, pt, _ := strings.Cut(kv, "=")
				if got, ok := rm.codecs[name]; !ok || strconv.Itoa(int(got)) != pt {
					t.Errorf("codec %s = %d (%v), want %s", name, got, ok, pt)
				}
			}
		})
	}
}

func itoa(v uint8) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+v/100%10)) + string(rune('0'+v/10%10)) + string(rune('0'+v%10)))
}

func TestAnswerDirection(t *testing.T) {
	t.Parallel()
	for offered, want := range map[string]string{dirSendRecv: dirSendRecv, dirSendOnly: dirRecvOnly, dirRecvOnly: dirSendOnly, dirInactive: dirInactive, "": dirSendRecv} {
		if got := answerDirection(offered); got != want {
			t.Errorf("answerDirection(%q) = %q, want %q", offered, got, want)
		}
	}
}

func FuzzParseSDP(f *testing.F) {
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"))
	f.Add([]byte("v=0\no=- 1 1 IN IP6 ::1\ns=-\nc=IN IP6 ::1/3\nt=0 0\nm=audio 70000 RTP/AVP 300 x\n"))
	f.Add([]byte("v=0\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		rm, err := parseSDP(body)
		if err != nil {
			return
		}
		if !isDirection(rm.direction) {
			t.Fatalf("direction %q", rm.direction)
		}
		if rm.eventPT > 127 {
			t.Fatalf("event pt %d", rm.eventPT)
		}
		for name, pt := range rm.codecs {
			if (name != "PCMU" && name != "PCMA") || pt > 127 {
				t.Fatalf("codec %s pt %d", name, pt)
			}
		}
	})
}
