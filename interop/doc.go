// Package interop holds plainws's interoperability tests: package ws, as
// client and as server, against WebSocket implementations it shares no code
// with — Node's ws and Python's websockets — started by the tests themselves
// on 127.0.0.1 (see internal/peers and interop/README.md).
package interop
