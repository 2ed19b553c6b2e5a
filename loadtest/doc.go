// Package loadtest holds plainws's load and fault tests: 1,000 (by default)
// concurrent loopback connections against "plainws serve" running as its own
// process (so the file descriptors of both ends do not share one process's
// limit), checking that nothing is lost or reordered and reporting memory per
// connection. PLAINWS_LOAD_CONNS scales them (CI uses the default; 10000 is
// the full run).
package loadtest
