package wav

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/zaf/g711"
)

// Header layout written by Writer. Non-PCM formats carry an 18-byte fmt chunk (with
// cbSize) and a fact chunk, as the WAVE spec asks of compressed formats; some players
// (Windows Media Player among them) refuse G.711 files without them.
const (
	riffSizeOff = 4
	pcmHdrLen   = 44 // RIFF(12) + fmt(8+16) + data(8)
	g711HdrLen  = 58 // RIFF(12) + fmt(8+18) + fact(8+4) + data(8)
)

// Writer streams audio into a WAV file. It writes a header with placeholder sizes
// when created and patches the sizes on Close, so the underlying stream must be
// seekable. A Writer is not safe for concurrent use.
type Writer struct {
	w         io.WriteSeeker
	format    int
	channels  int   // 1, or 2 for a stereo PCM recording (interleaved left, right)
	start     int64 // offset of "RIFF" in w: the file need not start at offset 0
	hdrLen    int64
	dataBytes int64
	buf       []byte // reused encode buffer for WritePCM
	err       error  // sticky: after a failed write the file is not trustworthy
	closed    bool
}

// NewWriter writes a WAV header for 8 kHz mono audio in format (FormatPCM,
// FormatALaw or FormatULaw) at the current position of w and returns a Writer for
// the audio that follows.
func NewWriter(w io.WriteSeeker, format int) (*Writer, error) {
	return newWriter(w, format, 1)
}

// NewStereoWriter writes a WAV header for 8 kHz stereo 16-bit PCM (call
// recordings: one party per channel) and returns a Writer for WriteStereo.
func NewStereoWriter(w io.WriteSeeker) (*Writer, error) {
	return newWriter(w, FormatPCM, 2)
}

func newWriter(w io.WriteSeeker, format, channels int) (*Writer, error) {
	if err := checkFormat(format); err != nil {
		return nil, err
	}
	start, err := w.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("wav: find header position: %w", err)
	}
	wr := &Writer{w: w, format: format, channels: channels, start: start}
	hdr := wr.header(false)
	wr.hdrLen = int64(len(hdr))
	if _, err := w.Write(hdr); err != nil {
		return nil, fmt.Errorf("wav: write header: %w", err)
	}
	return wr, nil
}

// header builds the file header. Until the sizes are final it writes 0xFFFFFFFF,
// the streaming "unknown length" marker, so that a recording cut off by a crash
// still opens in players (and in Decode) with all the audio that reached the disk.
func (wr *Writer) header(final bool) []byte {
	bps := bytesPerSample(wr.format)
	block := bps * wr.channels
	dataLen := uint32(wr.dataBytes)
	pad := uint32(wr.dataBytes & 1)
	var b []byte
	if wr.format == FormatPCM {
		b = make([]byte, 0, pcmHdrLen)
	} else {
		b = make([]byte, 0, g711HdrLen)
	}
	b = append(b, "RIFF"...)
	b = binary.LittleEndian.AppendUint32(b, 0) // filled in below
	b = append(b, "WAVE"...)
	b = append(b, "fmt "...)
	if wr.format == FormatPCM {
		b = binary.LittleEndian.AppendUint32(b, 16)
	} else {
		b = binary.LittleEndian.AppendUint32(b, 18)
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(wr.format))
	b = binary.LittleEndian.AppendUint16(b, uint16(wr.channels))
	b = binary.LittleEndian.AppendUint32(b, SampleRate)
	b = binary.LittleEndian.AppendUint32(b, uint32(SampleRate*block)) // byte rate
	b = binary.LittleEndian.AppendUint16(b, uint16(block))            // block align
	b = binary.LittleEndian.AppendUint16(b, uint16(8*bps))            // bits per sample
	if wr.format != FormatPCM {
		b = binary.LittleEndian.AppendUint16(b, 0) // cbSize: no extra format bytes
		b = append(b, "fact"...)
		b = binary.LittleEndian.AppendUint32(b, 4)
		b = binary.LittleEndian.AppendUint32(b, dataLen/uint32(block)) // sample count
	}
	b = append(b, "data"...)
	if !final {
		b = binary.LittleEndian.AppendUint32(b, sizeUnknown)
		binary.LittleEndian.PutUint32(b[riffSizeOff:], sizeUnknown)
		return b
	}
	b = binary.LittleEndian.AppendUint32(b, dataLen)
	binary.LittleEndian.PutUint32(b[riffSizeOff:], uint32(len(b))-8+dataLen+pad)
	return b
}

// DataBytes returns the bytes of audio written so far (the file holds the header
// besides).
func (wr *Writer) DataBytes() int64 { return wr.dataBytes }

// Format returns the format tag the Writer writes.
func (wr *Writer) Format() int { return wr.format }

// Write appends raw audio already encoded in the Writer's format: one byte per
// sample for G.711, little-endian 16-bit samples for PCM (so len(samples) must be
// even; a multiple of 4 for stereo, left sample first). It returns the number of
// bytes written.
func (wr *Writer) Write(samples []byte) (int, error) {
	if err := wr.ready(); err != nil {
		return 0, err
	}
	if block := bytesPerSample(wr.format) * wr.channels; len(samples)%block != 0 {
		return 0, fmt.Errorf("wav: write of %d bytes: whole frames of %d bytes needed", len(samples), block)
	}
	if wr.dataBytes+int64(len(samples)) > maxDataBytes {
		return 0, ErrTooLarge
	}
	n, err := wr.w.Write(samples)
	wr.dataBytes += int64(n)
	if err != nil {
		wr.err = fmt.Errorf("wav: write audio: %w", err)
		return n, wr.err
	}
	return n, nil
}

// WritePCM encodes 16-bit linear samples into the Writer's format and appends them.
// On a stereo Writer the samples are interleaved already (left, right, ...).
func (wr *Writer) WritePCM(pcm []int16) error {
	if err := wr.ready(); err != nil {
		return err
	}
	if len(pcm)%wr.channels != 0 {
		return fmt.Errorf("wav: %d samples for %d channels", len(pcm), wr.channels)
	}
	need := len(pcm) * bytesPerSample(wr.format)
	if cap(wr.buf) < need {
		wr.buf = make([]byte, need)
	}
	b := wr.buf[:need]
	switch wr.format {
	case FormatPCM:
		for i, s := range pcm {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
		}
	case FormatALaw:
		for i, s := range pcm {
			b[i] = g711.EncodeAlawFrame(s)
		}
	case FormatULaw:
		for i, s := range pcm {
			b[i] = g711.EncodeUlawFrame(s)
		}
	}
	_, err := wr.Write(b)
	return err
}

// WriteStereo interleaves left and right (of equal length) into a stereo Writer.
func (wr *Writer) WriteStereo(left, right []int16) error {
	if err := wr.ready(); err != nil {
		return err
	}
	if wr.channels != 2 || len(left) != len(right) {
		return fmt.Errorf("wav: stereo write of %d and %d samples to a %d-channel file", len(left), len(right), wr.channels)
	}
	need := 4 * len(left)
	if cap(wr.buf) < need {
		wr.buf = make([]byte, need)
	}
	b := wr.buf[:need]
	for i := range left {
		binary.LittleEndian.PutUint16(b[4*i:], uint16(left[i]))
		binary.LittleEndian.PutUint16(b[4*i+2:], uint16(right[i]))
	}
	_, err := wr.Write(b)
	return err
}

// ready reports why the Writer cannot take more audio, if it cannot.
func (wr *Writer) ready() error {
	if wr.closed {
		return errors.New("wav: write after Close")
	}
	return wr.err
}

// Duration returns the length of the audio written so far.
func (wr *Writer) Duration() time.Duration {
	return samplesDuration(wr.dataBytes / int64(bytesPerSample(wr.format)*wr.channels))
}

// Close pads the data chunk to an even length, as RIFF requires, patches the size
// fields and leaves the stream positioned after the data. It does not close the
// underlying stream. Calling Close again is a no-op.
func (wr *Writer) Close() error {
	if wr.closed {
		return nil
	}
	wr.closed = true
	if wr.err != nil {
		return wr.err
	}
	end := wr.start + wr.hdrLen + wr.dataBytes
	if wr.dataBytes&1 == 1 {
		if _, err := wr.w.Write([]byte{0}); err != nil {
			return fmt.Errorf("wav: write pad byte: %w", err)
		}
		end++
	}
	if _, err := wr.w.Seek(wr.start, io.SeekStart); err != nil {
		return fmt.Errorf("wav: seek to header: %w", err)
	}
	if _, err := wr.w.Write(wr.header(true)); err != nil {
		return fmt.Errorf("wav: patch header: %w", err)
	}
	if _, err := wr.w.Seek(end, io.SeekStart); err != nil {
		return fmt.Errorf("wav: seek to end: %w", err)
	}
	return nil
}

// FileWriter is a Writer on a file it owns: Close completes the header, flushes the
// file to stable storage and closes it.
type FileWriter struct {
	*Writer
	f      *os.File
	closed bool
}

// Create creates (or truncates) the file at path and starts a WAV file in format.
// The file gets mode 0600 because recordings hold callers' voices.
func Create(path string, format int) (*FileWriter, error) {
	if err := checkFormat(format); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("wav: create %s: %w", path, err)
	}
	w, err := NewWriter(f, format)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("wav: create %s: %w", path, err)
	}
	return &FileWriter{Writer: w, f: f}, nil
}

// CreateStereo creates (or truncates) the file at path and starts a stereo
// 16-bit PCM WAV file in it (mode 0600), for WriteStereo.
func CreateStereo(path string) (*FileWriter, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("wav: create %s: %w", path, err)
	}
	w, err := NewStereoWriter(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("wav: create %s: %w", path, err)
	}
	return &FileWriter{Writer: w, f: f}, nil
}

// Name returns the path of the file being written.
func (fw *FileWriter) Name() string { return fw.f.Name() }

// Close patches the header, fsyncs and closes the file. The file is closed even
// when an earlier step fails; calling Close again is a no-op.
func (fw *FileWriter) Close() error {
	if fw.closed {
		return nil
	}
	fw.closed = true
	err := fw.Writer.Close()
	if err == nil {
		if serr := fw.f.Sync(); serr != nil {
			err = fmt.Errorf("wav: sync %s: %w", fw.f.Name(), serr)
		}
	}
	if cerr := fw.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("wav: close %s: %w", fw.f.Name(), cerr)
	}
	return err
}

// WriteFileAtomic writes data (raw audio already in format) as a complete WAV file
// at path so that path either keeps its old content or holds the whole new file,
// even across a crash: it writes a temporary file in the same directory, fsyncs it,
// renames it over path and fsyncs the directory. The file gets mode 0600.
func WriteFileAtomic(path string, format int, data []byte) (err error) {
	if err := checkFormat(format); err != nil {
		return err
	}
	if format == FormatPCM && len(data)%2 != 0 {
		return fmt.Errorf("wav: write %s: PCM data of %d bytes: 16-bit samples need an even length", path, len(data))
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("wav: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w, err := NewWriter(f, format)
	if err != nil {
		return fmt.Errorf("wav: write %s: %w", path, err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("wav: write %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("wav: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wav: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wav: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("wav: rename %s to %s: %w", tmp, path, err)
	}
	// The rename is only durable once the directory entry is on disk.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wav: open directory %s to sync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("wav: sync directory %s: %w", dir, err)
	}
	return nil
}
