package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/plainws/plainws/asyncconn"
)

// DialIdleAsync is asyncconn's IdleDialer: an asyncconn.Conn with Workerman's
// defaults on one shared Loop, connected and upgraded, its reader goroutine
// waiting for a message. The callbacks are shared functions and the Loop is
// shared by all connections, so that the figure is the Conn's own cost.
// Dials are sequential (MeasureIdle makes them one at a time).
func DialIdleAsync(ctx context.Context, addr string) (io.Closer, any, error) {
	loop := idleLoop()
	c, err := asyncconn.New(loop, "ws://"+addr+"/")
	if err != nil {
		return nil, nil, err
	}
	c.OnWebSocketConnect = asyncUpgraded
	c.OnError = asyncFailed
	select {
	case <-asyncUp: // a late word from an earlier connection
	default:
	}
	c.Connect()
	select {
	case err := <-asyncUp:
		if err != nil {
			c.Destroy()
			return nil, nil, err
		}
	case <-ctx.Done():
		c.Destroy()
		return nil, nil, ctx.Err()
	}
	return asyncDestroyer{c}, c, nil
}

var (
	asyncUp       = make(chan error, 1)
	asyncLoopOnce sync.Once
	asyncLoop     *asyncconn.Loop
)

// idleLoop returns the Loop the idle asyncconn connections share; it runs
// for the life of the process, as a Workerman worker's loop does.
func idleLoop() *asyncconn.Loop {
	asyncLoopOnce.Do(func() {
		asyncLoop = asyncconn.NewLoop()
		go func() { _ = asyncLoop.Run(context.Background()) }()
	})
	return asyncLoop
}

func asyncUpgraded(*asyncconn.Conn, *http.Response) {
	select {
	case asyncUp <- nil:
	default:
	}
}

func asyncFailed(_ *asyncconn.Conn, code asyncconn.ErrorCode, msg string) {
	select {
	case asyncUp <- fmt.Errorf("asyncconn error %d: %s", code, msg):
	default:
	}
}

// asyncDestroyer closes an asyncconn.Conn at once. It holds one pointer, so
// turning it into an io.Closer allocates nothing.
type asyncDestroyer struct{ c *asyncconn.Conn }

func (d asyncDestroyer) Close() error {
	d.c.Destroy()
	return nil
}
