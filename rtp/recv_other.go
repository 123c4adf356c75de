//go:build !linux || !(amd64 || arm64)

package rtp

const recvBatch = 1

type recvState struct{}

func (s *Session) readLoop() {
	defer close(s.readDone)
	b := s.pool.takeRxBuf()
	s.rx.buf = b[:]
	defer func() { s.rx.release(); s.pool.putRxBuf(b) }()
	s.readLoopPortable()
}
