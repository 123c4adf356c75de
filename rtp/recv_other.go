//go:build !linux || !(amd64 || arm64)

package rtp

const recvBatch = 1

type recvState struct{}

func (s *Session) readLoop() {
	defer close(s.readDone)
	s.readLoopPortable()
}
