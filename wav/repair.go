package wav

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// Repair makes the WAV file at path consistent after its writer died (kill -9,
// power loss) before Close patched the header: the data chunk's size becomes
// the whole frames present on disk, a trailing partial frame is cut off, the
// RIFF size (and a fact chunk's sample count) follow, and the file is fsynced.
// It reports whether anything changed and the audio bytes the file now holds.
// A file whose header already matches its length is left alone.
func Repair(path string) (changed bool, dataBytes int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false, 0, fmt.Errorf("wav: repair: %w", err)
	}
	defer f.Close()
	changed, dataBytes, err = repair(f)
	if err != nil {
		return false, 0, fmt.Errorf("wav: repair %s: %w", path, err)
	}
	if changed {
		if err := f.Sync(); err != nil {
			return false, 0, fmt.Errorf("wav: repair %s: sync: %w", path, err)
		}
	}
	return changed, dataBytes, f.Close()
}

// repairFile is what Repair needs of an *os.File.
type repairFile interface {
	io.ReaderAt
	io.WriterAt
	Stat() (os.FileInfo, error)
	Truncate(size int64) error
}

func repair(f repairFile) (bool, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return false, 0, err
	}
	size := st.Size()
	var hdr [12]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return false, 0, fmt.Errorf("%w: reading RIFF header: %w", ErrNotWAV, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return false, 0, fmt.Errorf("%w: missing RIFF/WAVE signature", ErrNotWAV)
	}
	block := int64(0)
	factAt := int64(-1)
	off := int64(12)
	for {
		var ch [8]byte
		if _, err := f.ReadAt(ch[:], off); err != nil {
			return false, 0, fmt.Errorf("%w: no data chunk: %w", ErrNotWAV, err)
		}
		id, n := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		body := off + 8
		switch id {
		case "fmt ":
			if n < 16 || n > maxFmtChunk {
				return false, 0, fmt.Errorf("%w: fmt chunk of %d bytes", ErrNotWAV, n)
			}
			var b [16]byte
			if _, err := f.ReadAt(b[:], body); err != nil {
				return false, 0, fmt.Errorf("%w: reading fmt chunk: %w", ErrNotWAV, err)
			}
			block = int64(binary.LittleEndian.Uint16(b[12:14]))
		case "fact":
			factAt = body
		case "data":
			if block <= 0 {
				return false, 0, fmt.Errorf("%w: data chunk before a usable fmt chunk", ErrNotWAV)
			}
			present := max(size-body, 0)
			whole := present - present%block
			pad := whole & 1
			riff := body - 8 + whole + pad
			if n == whole && int64(binary.LittleEndian.Uint32(hdr[4:8])) == riff && size == body+whole+pad {
				return false, whole, nil
			}
			if whole > maxDataBytes {
				return false, 0, ErrTooLarge
			}
			if err := f.Truncate(body + whole); err != nil {
				return false, 0, err
			}
			if pad == 1 {
				if _, err := f.WriteAt([]byte{0}, body+whole); err != nil {
					return false, 0, err
				}
			}
			var v [4]byte
			binary.LittleEndian.PutUint32(v[:], uint32(whole))
			if _, err := f.WriteAt(v[:], off+4); err != nil {
				return false, 0, err
			}
			binary.LittleEndian.PutUint32(v[:], uint32(riff))
			if _, err := f.WriteAt(v[:], 4); err != nil {
				return false, 0, err
			}
			if factAt >= 0 {
				binary.LittleEndian.PutUint32(v[:], uint32(whole/block))
				if _, err := f.WriteAt(v[:], factAt); err != nil {
					return false, 0, err
				}
			}
			return true, whole, nil
		}
		if n == sizeUnknown {
			return false, 0, fmt.Errorf("%w: chunk %q of unknown size before the data", ErrNotWAV, sanitizeID(ch[0:4]))
		}
		off = body + n + n&1
	}
}
