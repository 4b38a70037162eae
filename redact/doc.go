// Package redact keeps the secrets berth knows and removes them from
// everything berth writes out of the process.
//
// A secret is registered (Add) as soon as berth reads or generates it:
// the state store registers every secret it returns (generated database
// passwords, salts, admin passwords), the database administrator's
// password is registered when it is read on the controller, and `berth
// serve` registers its API tokens and webhook secrets, the Git token when
// it is read. The process has one registry: a secret of one environment
// is redacted from the output of every other one too.
//
// Redaction happens at the sinks, the few places data leaves the process,
// not at the call sites that produce it: the CLI's standard output and
// error (and so its log lines), the daemon's log writer, the run records
// of the state store and the daemon's API answers. A new call site cannot
// forget it.
//
// What is replaced, by the text [redacted]:
//
//   - every occurrence of a registered secret, also inside longer strings;
//   - the secret in common encodings: URL query and path escaping (upper-
//     and lower-case hex), base64 (standard and URL alphabets, padded or
//     raw, at any byte offset of the encoded data, so the secret is found
//     inside the base64 of a longer text), JSON string escaping (also with
//     escaped slashes, as PHP writes it), Go string quoting, and hex
//     (lower and upper case);
//   - fragments: any run of at least Fragment (12) consecutive characters
//     of a secret or of one of its encodings, so a truncated or
//     line-wrapped secret is redacted too. Shorter runs at a truncation or
//     a line break may remain; they are less than Fragment characters of
//     the secret.
//
// Secrets shorter than MinLen (6) characters are not redacted: they would
// match ordinary words everywhere, and such a password protects nothing.
//
// Each call of String, Bytes or a Writer's Write is redacted as a whole: a
// secret split across two writes is redacted only in the fragments each
// write holds. berth's sinks write whole lines and whole records.
package redact
