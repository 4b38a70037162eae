// Package dashboard is the operator's web view of berth serve: the
// environments, a site list with server-side filter, sort and pagination
// (fast at tens of thousands of sites: one page is rendered, never the
// whole list), a page per site, the run history with each run's plan and
// log, and the operator's actions: reconcile now, back up now, restore
// (after a confirmation naming the backup). A client's token (berth.yaml
// clients) sees only that client's sites, on its hostname, branded.
//
// It is server-rendered with html/template from embedded templates, one
// embedded style sheet and one small embedded script (it follows a
// running run's log, sent as server-sent events): no CDN; everything
// reads without JavaScript. It holds no state of its own beyond login sessions: the
// daemon (Source) and the run store (Runs) answer every page.
//
// Access: a visitor logs in with one of berth serve's API tokens (the
// read token or the operator token); the token is checked in constant
// time by the daemon's Access and never stored: the session is a random
// id in an HttpOnly, SameSite=Strict cookie (Secure over TLS) that
// expires. Every action is a POST carrying the session's CSRF token,
// allowed only to the operator role, and written to the audit log (the
// daemon's log, with who: the role and the session) before it runs.
// Every page has the secrets the process knows redacted (package
// redact), as the JSON API does.
package dashboard
