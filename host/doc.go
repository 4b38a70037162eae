// Package host is berth's vocabulary for acting on a machine: the Host
// interface that every driver implements, and the values it exchanges
// (Observation, RunOptions, RunResult, WriteOptions, the sentinel errors).
//
// Drivers live in sub-packages: host/local acts on the machine berth runs on,
// host/ssh on a remote machine over one reused SSH connection, and
// host/hosttest is an in-memory fake that records commands, for unit tests of
// steps. host/hostconformance is the one test suite all three pass.
//
// Two rules shape the interface. Commands are argv vectors, never shell
// strings, so no value from the spec can change what runs. Observation is
// batched: Observe reads the state of every managed path on a host in one
// round trip, because per-file round trips are what make configuration tools
// slow at scale.
package host
