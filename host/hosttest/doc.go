// Package hosttest provides Fake, an in-memory host.Host for unit tests of
// steps that act on hosts: it holds a small Unix-like file system (owners,
// modes, a capacity that can run out), answers commands through handlers the
// test registers (plus a few builtins: true, false, echo-like printf, cat,
// pwd, env) and records every call, so a test can assert both the end state
// and exactly which commands ran. InterruptBatch cuts the next WriteBatch
// off half way, as a killed host would.
//
// Fake passes the same conformance suite as the real drivers
// (host/hostconformance), so what a step does against it, it does against a
// real host.
package hosttest
