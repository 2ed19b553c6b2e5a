package peers

import (
	"os"
	"strconv"
	"testing"

	"github.com/plainws/plainws/bench"
	"github.com/plainws/plainws/ws"
)

// TestMain lets the benchmark binary double as bench's idle server.
func TestMain(m *testing.M) {
	if bench.IdleServerMain() {
		return
	}
	os.Exit(m.Run())
}

// library is one column of the table: how a library (or a ceiling) runs
// each workload. A nil entry means the library has no such API, and the
// cell stays empty. server is the role of the side being measured.
type library struct {
	name       string
	readWhole  func(b *testing.B, server bool, size int)
	readStream func(b *testing.B, server bool, size int)
	write      func(b *testing.B, server bool, size int)
	mask       func(b *testing.B, size, off int)
	roundTrip  func(b *testing.B, size int)
	pipelined  func(b *testing.B, size int)
	idle       bench.IdleDialer
}

func role(server bool) ws.Role {
	if server {
		return ws.RoleServer
	}
	return ws.RoleClient
}

// libraries lists the columns in table order: this library, its ceilings,
// then the peers.
var libraries = []library{
	{
		name:       "plainws",
		readWhole:  func(b *testing.B, server bool, size int) { bench.ReadWhole(b, role(server), ws.OpBinary, size) },
		readStream: func(b *testing.B, server bool, size int) { bench.ReadStream(b, role(server), size) },
		write:      func(b *testing.B, server bool, size int) { bench.WriteMessage(b, role(server), size) },
		mask:       bench.Mask,
		roundTrip:  bench.RoundTrip,
		pipelined:  bench.Pipelined,
		idle:       bench.DialIdle,
	},
	{
		// plainws read through a ws.ReadOwner: the reading goroutine owns
		// the conn's reads and takes no lock per call.
		name:       "owner",
		readWhole:  func(b *testing.B, server bool, size int) { bench.ReadWholeOwner(b, role(server), ws.OpBinary, size) },
		readStream: func(b *testing.B, server bool, size int) { bench.ReadStreamOwner(b, role(server), size) },
	},
	{
		name:      "bare",
		readWhole: func(b *testing.B, server bool, size int) { bench.ReadBare(b, server, size) },
		write:     func(b *testing.B, server bool, size int) { bench.WriteBare(b, !server, size) },
	},
	{
		name:      "copy",
		readWhole: func(b *testing.B, server bool, size int) { bench.ReadCopy(b, server, size) },
		write: func(b *testing.B, server bool, size int) {
			if server {
				b.Skip("the copy ceiling is measured for the client's writes")
			}
			bench.WriteCopy(b, size)
		},
	},
	{
		name:      "tcp",
		roundTrip: bench.RoundTripTCP,
		pipelined: bench.PipelinedTCP,
	},
	gorillaLib,
	coderLib,
	gobwasLib,
	gwsLib,
}

var (
	readSizes      = []int{16, 1 << 10, 64 << 10, 1 << 20}
	writeSizes     = []int{0, 64, 1 << 10, 64 << 10, 1 << 20}
	maskSizes      = []int{8, 16, 32, 64, 512, 4 << 10, 64 << 10, 1 << 20}
	roundTripSizes = []int{16, 128}
	pipelinedSizes = []int{1 << 10, 64 << 10}
)

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

func roleName(server bool) string {
	if server {
		return "server"
	}
	return "client"
}

// BenchmarkPeers runs every workload through every library, the libraries
// of one workload one after the other, so that a slow moment of a noisy
// machine hits them alike. Names are workload/variant/size/library.
func BenchmarkPeers(b *testing.B) {
	for _, server := range []bool{false, true} {
		for _, size := range readSizes {
			for _, l := range libraries {
				if l.readWhole != nil {
					b.Run("read-whole/"+roleName(server)+"/"+sizeName(size)+"/"+l.name, func(b *testing.B) { l.readWhole(b, server, size) })
				}
			}
			for _, l := range libraries {
				if l.readStream != nil {
					b.Run("read-stream/"+roleName(server)+"/"+sizeName(size)+"/"+l.name, func(b *testing.B) { l.readStream(b, server, size) })
				}
			}
		}
	}
	for _, server := range []bool{false, true} {
		for _, size := range writeSizes {
			for _, l := range libraries {
				if l.write != nil && !(server && l.name == "copy") {
					b.Run("write/"+roleName(server)+"/"+sizeName(size)+"/"+l.name, func(b *testing.B) { l.write(b, server, size) })
				}
			}
		}
	}
	for _, size := range maskSizes {
		for _, off := range []int{0, 1} {
			for _, l := range libraries {
				if l.mask != nil {
					b.Run("mask/off"+strconv.Itoa(off)+"/"+sizeName(size)+"/"+l.name, func(b *testing.B) { l.mask(b, size, off) })
				}
			}
		}
	}
	for _, size := range roundTripSizes {
		for _, l := range libraries {
			if l.roundTrip != nil {
				b.Run("roundtrip/loopback/"+sizeName(size)+"/"+l.name, func(b *testing.B) { l.roundTrip(b, size) })
			}
		}
	}
	for _, size := range pipelinedSizes {
		for _, l := range libraries {
			if l.pipelined != nil {
				b.Run("pipelined/loopback/"+sizeName(size)+"/"+l.name, func(b *testing.B) { l.pipelined(b, size) })
			}
		}
	}
}

// BenchmarkIdle measures the heap and stack an idle client connection holds
// in each library (see bench.MeasureIdle). Run it with -benchtime=1x.
func BenchmarkIdle(b *testing.B) {
	for _, l := range libraries {
		if l.idle != nil {
			b.Run("idle/client/conn/"+l.name, func(b *testing.B) { bench.MeasureIdle(b, l.idle) })
		}
	}
}
