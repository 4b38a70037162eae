// Package testenv starts the real programs berth's tests run against —
// OpenSSH sshd, network-namespace hosts, nginx, apache2, MariaDB,
// PostgreSQL, BIND, php-fpm, Pebble — each on loopback (or inside a network
// namespace the test creates), with its own data directory and port, as a
// child process of the test. Every helper registers t.Cleanup to stop what
// it started by PID and wait for it, so nothing outlives the test.
//
// A missing program is installed with apt-get (the packages are those of
// scripts/install-deps); when that fails the test fails, loudly: tests that
// need real services never skip. The helpers run as root, as CI does.
package testenv
