package ws

// CompressionOptions configures permessage-deflate (RFC 7692).
type CompressionOptions struct{}

// deflateState is the per-connection compression state (stub until RFC 7692 lands).
type deflateState struct{}

func (d *deflateState) read(c *Conn, p []byte) (int, error)             { return 0, ErrClosed }
func (d *deflateState) startMessage()                                   {}
func (d *deflateState) shouldCompress(n int) bool                       { return false }
func (d *deflateState) writeMessage(c *Conn, op Opcode, p []byte) error { return ErrClosed }
func (d *deflateState) streamCompress() bool                            { return false }
func (d *deflateState) startWriter(c *Conn, op Opcode)                  {}
func (d *deflateState) writerWrite(p []byte) (int, error)               { return 0, ErrClosed }
func (d *deflateState) writerClose() error                              { return ErrClosed }

func (o *CompressionOptions) clientOffer() string { return "" }
func (o *CompressionOptions) clientAccept(exts []string, r Role) (*deflateState, error) {
	return nil, nil
}
func (o *CompressionOptions) serverAccept(offers []string) (string, *deflateState, error) {
	return "", nil, nil
}
