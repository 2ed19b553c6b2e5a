//go:build !unix && !js

package ws

import "net"

// rawReader is unused where the runtime's poller cannot be reached through
// syscall.RawConn in the same way; reads then hold the buffer while waiting.
type rawReader struct{}

func (*rawReader) init(net.Conn)          {}
func (*rawReader) ok() bool               { return false }
func (*rawReader) fill(*readBuffer) error { return nil }
