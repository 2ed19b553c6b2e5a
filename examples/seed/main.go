// Command seed is the program this project was created from — the WebSocket client example of
// Workerman's manual, on its page "the ws protocol" (docs/workerman.md retells that page) —
// ported line for line to package asyncconn. Each Go line sits under a comment quoting the PHP
// line it replaces.
//
// It connects to ws://127.0.0.1:1234 (or -url), as the manual does; that needs a server there.
// -embedded first starts a small echo server on that loopback address (with port 0, on a free
// port, which the client then uses). -exit-after ends the program after a while, so that CI can
// run it bounded; without it, it runs until SIGINT or SIGTERM, like Worker::runAll().
//
//	go run ./examples/seed -embedded -exit-after 3s
//	go run ./examples/seed -embedded -url ws://127.0.0.1:0 -exit-after 3s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/plainws/plainws/asyncconn"
	"github.com/plainws/plainws/ws"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "seed: Workerman's WebSocket client example, ported line for line to package asyncconn.\n\nUsage: go run ./examples/seed [flags]\n")
		flag.PrintDefaults()
	}
	target := flag.String("url", "ws://127.0.0.1:1234", "the WebSocket server to connect to")
	embedded := flag.Bool("embedded", false, "start an echo server on the -url's loopback address first")
	exitAfter := flag.Duration("exit-after", 0, "stop after this long (0: run until SIGINT or SIGTERM)")
	flag.Parse()

	if *embedded {
		// With port 0 the server takes a free port, and the client connects to that one.
		u, stop, err := startEchoServer(*target)
		if err != nil {
			log.Fatal(err)
		}
		defer stop()
		*target = u
	}
	if err := run(*target, *exitAfter); err != nil {
		log.Fatal(err)
	}
}

func run(target string, exitAfter time.Duration) error {
	// $worker = new Worker();
	worker := asyncconn.Default() // the one event loop a Workerman worker process runs
	var setupErr error

	// $worker->onWorkerStart = function()
	// {
	onWorkerStart := func() {
		// $ws_connection = new AsyncTcpConnection("ws://127.0.0.1:1234");
		wsConnection, err := asyncconn.New(worker, target)
		if err != nil {
			setupErr = err
			worker.Stop()
			return
		}
		// $ws_connection->websocketPingInterval = 55;
		wsConnection.WebsocketPingInterval = 55 * time.Second
		// $ws_connection->headers = [
		//     'Cookie' => 'PHPSID=82u98fjhakfusuanfnahfi; token=2hf9a929jhfihaf9i',
		//     'OtherKey' => 'values'
		// ];
		wsConnection.Headers = http.Header{
			"Cookie":   {"PHPSID=82u98fjhakfusuanfnahfi; token=2hf9a929jhfihaf9i"},
			"OtherKey": {"values"},
		}
		// $ws_connection->websocketType = Ws::BINARY_TYPE_BLOB;
		wsConnection.WebsocketType = asyncconn.BinaryTypeBlob
		// $ws_connection->onConnect = function($connection){
		wsConnection.OnConnect = func(connection *asyncconn.Conn) {
			// echo "tcp connected\n";
			fmt.Print("tcp connected\n")
			// };
		}
		// $ws_connection->onWebSocketConnect = function(AsyncTcpConnection $con, $response) {
		wsConnection.OnWebSocketConnect = func(con *asyncconn.Conn, response *http.Response) {
			// echo $response;
			_ = response.Write(os.Stdout)
			// $con->send('hello');
			_ = con.SendString("hello")
			// };
		}
		// $ws_connection->onMessage = function($connection, $data){
		wsConnection.OnMessage = func(connection *asyncconn.Conn, data []byte) {
			// echo "recv: $data\n";
			fmt.Printf("recv: %s\n", data)
			// };
		}
		// $ws_connection->onError = function($connection, $code, $msg){
		wsConnection.OnError = func(connection *asyncconn.Conn, code asyncconn.ErrorCode, msg string) {
			// echo "error: $msg\n";
			fmt.Printf("error: %s\n", msg)
			// };
		}
		// $ws_connection->onClose = function($connection){
		wsConnection.OnClose = func(connection *asyncconn.Conn) {
			// echo "connection closed and try to reconnect\n";
			fmt.Print("connection closed and try to reconnect\n")
			// $connection->reConnect(1);
			connection.ReConnect(1 * time.Second)
			// };
		}
		// $ws_connection->connect();
		wsConnection.Connect()
	}
	// };
	worker.Post(onWorkerStart) // onWorkerStart runs on the worker's loop, before anything else

	// Worker::runAll();
	ctx := context.Background()
	if exitAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, exitAfter)
		defer cancel()
	}
	err := asyncconn.RunAllContext(ctx)
	if setupErr != nil {
		return setupErr
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return nil // -exit-after: a normal end
	}
	return err
}

// startEchoServer serves WebSocket echo on the host and port of target, which must be a loopback
// address: the example never listens beyond this machine. Port 0 picks a free port. It returns
// target with the port the server listens on.
func startEchoServer(target string) (listening string, stop func(), err error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", nil, err
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", nil, fmt.Errorf("-embedded listens on loopback only, not %q", host)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return "", nil, fmt.Errorf("embedded echo server: %w", err)
	}
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	u.Host = net.JoinHostPort(host, port)
	up := &ws.Upgrader{}
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			var buf []byte
			for {
				op, msg, err := c.ReadMessageInto(buf)
				if err != nil {
					return
				}
				buf = msg
				if err := c.WriteMessage(op, msg); err != nil {
					return
				}
			}
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	return u.String(), func() { _ = srv.Close() }, nil
}
