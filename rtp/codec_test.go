package rtp

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/zaf/g711"

	"switchboard/internal/audio"
)

// The per-sample paths must match the library's slice functions exactly.
func TestCodecMatchesG711(t *testing.T) {
	t.Parallel()
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	dst := make([]byte, 256)
	if got, _ := Transcode(dst, all, PCMU, PCMA); !bytes.Equal(got, g711.Ulaw2Alaw(all)) {
		t.Error("PCMU->PCMA differs from g711.Ulaw2Alaw")
	}
	if got, _ := Transcode(dst, all, PCMA, PCMU); !bytes.Equal(got, g711.Alaw2Ulaw(all)) {
		t.Error("PCMA->PCMU differs from g711.Alaw2Ulaw")
	}
	if got, _ := Transcode(dst, all, PCMA, PCMA); !bytes.Equal(got, all) {
		t.Error("same-codec transcode is not a copy")
	}

	pcm := audio.Sine(1234, 20000, 0, 800)
	lpcm := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(lpcm[2*i:], uint16(s))
	}
	enc := make([]byte, len(pcm))
	if got, _ := Encode(enc, pcm, PCMU); !bytes.Equal(got, g711.EncodeUlaw(lpcm)) {
		t.Error("PCMU encode differs")
	}
	if got, _ := Encode(enc, pcm, PCMA); !bytes.Equal(got, g711.EncodeAlaw(lpcm)) {
		t.Error("PCMA encode differs")
	}
	dec := make([]int16, len(enc))
	got, _ := Decode(dec, enc, PCMA)
	want := g711.DecodeAlaw(enc)
	for i := range got {
		if got[i] != int16(binary.LittleEndian.Uint16(want[2*i:])) {
			t.Fatalf("PCMA decode differs at %d", i)
		}
	}
	if silence(lawU) != encodeOne(PCMU) || silence(lawA) != 0xD5 {
		t.Error("silence bytes")
	}
}

func encodeOne(c Codec) byte {
	b, _ := Encode(make([]byte, 1), []int16{0}, c)
	return b[0]
}

func TestCodecErrors(t *testing.T) {
	t.Parallel()
	g729 := Codec{Name: "G729", PT: 18}
	if _, err := Encode(make([]byte, 4), make([]int16, 4), g729); err == nil {
		t.Error("Encode G729")
	}
	if _, err := Encode(make([]byte, 2), make([]int16, 4), PCMU); err == nil {
		t.Error("Encode into a short buffer")
	}
	if _, err := Decode(make([]int16, 2), make([]byte, 4), PCMU); err == nil {
		t.Error("Decode into a short buffer")
	}
	if _, err := Decode(make([]int16, 4), make([]byte, 4), g729); err == nil {
		t.Error("Decode G729")
	}
	if _, err := Transcode(make([]byte, 4), make([]byte, 4), PCMU, g729); err == nil {
		t.Error("Transcode to G729")
	}
	if _, err := Transcode(make([]byte, 2), make([]byte, 4), PCMU, PCMA); err == nil {
		t.Error("Transcode into a short buffer")
	}
	if PCMA.String() != "PCMA/8" || !slices.Equal(Supported, []Codec{PCMU, PCMA}) {
		t.Error("codec names")
	}
}

func TestCodecZeroAlloc(t *testing.T) {
	src := make([]byte, frameSamples)
	dst := make([]byte, frameSamples)
	pcm := make([]int16, frameSamples)
	if n := testing.AllocsPerRun(100, func() {
		_, _ = Transcode(dst, src, PCMU, PCMA)
		_, _ = Encode(dst, pcm, PCMA)
		_, _ = Decode(pcm, src, PCMU)
	}); n != 0 {
		t.Errorf("%.1f allocs per frame", n)
	}
}
