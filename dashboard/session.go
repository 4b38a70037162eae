package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"
	"time"

	"github.com/berthhq/berth/daemon"
)

// cookieName is the session cookie's name.
const cookieName = "berth_session"

// sessionTTL is how long a login lasts.
const sessionTTL = 12 * time.Hour

// session is one login: its role and the CSRF token its forms carry.
type session struct {
	id      string
	who     daemon.Principal
	role    daemon.Role
	csrf    string
	expires time.Time
}

// sessions are the logins of this process (a restart logs everyone out).
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	now func() time.Time
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// start creates a session for role and sets its cookie.
func (s *sessions) start(w http.ResponseWriter, r *http.Request, who daemon.Principal) *session {
	se := &session{id: randomHex(32), who: who, role: who.Role, csrf: randomHex(32), expires: s.now().Add(sessionTTL)}
	s.mu.Lock()
	for id, old := range s.m { // drop expired sessions as new ones come
		if s.now().After(old.expires) {
			delete(s.m, id)
		}
	}
	s.m[se.id] = se
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: se.id, Path: "/ui/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, Expires: se.expires})
	return se
}

// get returns the request's live session, nil without one.
func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.m[c.Value]
	if se == nil || s.now().After(se.expires) {
		delete(s.m, c.Value)
		return nil
	}
	return se
}

// end logs the request's session out and clears its cookie.
func (s *sessions) end(w http.ResponseWriter, r *http.Request) {
	if se := s.get(r); se != nil {
		s.mu.Lock()
		delete(s.m, se.id)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/ui/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// validCSRF reports whether the form's csrf field is the session's.
func (se *session) validCSRF(r *http.Request) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(se.csrf)) == 1
}

// audit names who did something, for the audit log: the token's name
// and role and a short, non-secret tag of the session (a prefix of its
// random id, too short to reuse).
func (se *session) audit() string {
	return se.who.Name + " (" + se.role.String() + ") session " + se.id[:8]
}
