package daemon

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"

	"github.com/berthhq/berth/state"
)

// tokenName is what a token's name may be: it appears in audit lines and
// in `berth token list`.
var tokenName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// TokenRequest is the body of POST /api/v1/tokens.
type TokenRequest struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Client string `json:"client,omitempty"`
}

// CheckTokenRequest says what is wrong with a request for a new token,
// for the API and `berth token create` alike.
func CheckTokenRequest(req TokenRequest) error {
	switch {
	case !tokenName.MatchString(req.Name):
		return errors.New("a token's name is 1-63 of a-z 0-9 . _ -, starting with a letter or digit")
	case ParseRole(req.Role) == RoleNone:
		return errors.New("a token's role is viewer, operator or admin")
	case req.Client != "" && !tokenName.MatchString(req.Client):
		return errors.New("a client's name is 1-63 of a-z 0-9 . _ -, as in berth.yaml's clients")
	case req.Client != "" && req.Role != RoleRead.String():
		return errors.New("a client's token is a viewer: it reads that client's sites and does nothing else")
	}
	return nil
}

// tokenJSON is a token in the API's answers (never the token itself but
// once, when it is created).
type tokenJSON struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Client  string `json:"client,omitempty"`
	Created string `json:"created"`
	Token   string `json:"token,omitempty"`
}

// tokenHandlers mounts the admin's token management:
//
//	GET    /api/v1/tokens          the tokens (admin)
//	POST   /api/v1/tokens          a new one, answered once (admin)
//	DELETE /api/v1/tokens/{name}   revoke (admin)
func (d *Daemon) tokenHandlers(mux *http.ServeMux, access *Access) {
	admin := func(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if access.allow(w, r, RoleAdmin) {
				h(w, r)
			}
		}
	}
	mux.HandleFunc("GET /api/v1/tokens", admin(func(w http.ResponseWriter, r *http.Request) {
		ts, err := d.cfg.Store.Tokens(r.Context())
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		out := make([]tokenJSON, len(ts))
		for i, t := range ts {
			out[i] = tokenJSON{Name: t.Name, Role: t.Role, Client: t.Client, Created: t.Created.UTC().Format("2006-01-02T15:04:05Z")}
		}
		writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	}))
	mux.HandleFunc("POST /api/v1/tokens", admin(func(w http.ResponseWriter, r *http.Request) {
		var req TokenRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "the body is JSON: {\"name\": ..., \"role\": ..., \"client\": ...}")
			return
		}
		if err := CheckTokenRequest(req); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		tok, err := d.cfg.Store.CreateToken(r.Context(), state.Token{Name: req.Name, Role: req.Role, Client: req.Client})
		if errors.Is(err, state.ErrTokenExists) {
			writeError(w, http.StatusConflict, err.Error())
			return
		} else if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		d.cfg.Logger.Info().Str("step", "api").Str("token", req.Name).Str("role", req.Role).Str("client", req.Client).Str("who", access.principal(r).Name).Str("remote", r.RemoteAddr).Msg("audit: token created")
		writeJSON(w, http.StatusCreated, tokenJSON{Name: req.Name, Role: req.Role, Client: req.Client, Token: tok})
	}))
	mux.HandleFunc("DELETE /api/v1/tokens/{name}", admin(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		err := d.cfg.Store.RevokeToken(r.Context(), name)
		if errors.Is(err, state.ErrNotFound) {
			writeError(w, http.StatusNotFound, "no token "+name)
			return
		} else if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		d.cfg.Logger.Info().Str("step", "api").Str("token", name).Str("who", access.principal(r).Name).Str("remote", r.RemoteAddr).Msg("audit: token revoked")
		w.WriteHeader(http.StatusNoContent)
	}))
}
