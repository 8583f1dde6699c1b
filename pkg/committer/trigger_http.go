package committer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/nooper"
)

// MaxTriggerBody bounds a POST /trigger body: a request names one
// revision.
const MaxTriggerBody = 4096

// maxRevision bounds a revision's length (git's refs are shorter).
const maxRevision = 256

// TriggerRequest is the body of POST /trigger: exactly one of Revision (a
// sha, an unambiguous prefix or a ref, nooped unless it was) and Renoop (a
// commit the nooper nooped, nooped again).
type TriggerRequest struct {
	Revision string `json:"revision,omitempty"`
	Renoop   string `json:"renoop,omitempty"`
}

// ParseTriggerRequest reads a POST /trigger body: JSON with exactly one
// of "revision" and "renoop", no other field, a revision of at most 256
// printable characters without spaces that does not start with '-'.
// Anything else wraps ErrBadTrigger with the reason.
func ParseTriggerRequest(r io.Reader) (TriggerRequest, error) {
	var req TriggerRequest
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("%w: want {\"revision\": \"<sha or ref>\"} or {\"renoop\": \"<sha>\"}: %w", ErrBadTrigger, err)
	}
	if dec.More() {
		return req, fmt.Errorf("%w: more than one JSON value", ErrBadTrigger)
	}
	if (req.Revision == "") == (req.Renoop == "") {
		return req, fmt.Errorf("%w: give exactly one of \"revision\" and \"renoop\"", ErrBadTrigger)
	}
	_, rev := req.kind()
	switch {
	case len(rev) > maxRevision:
		return req, fmt.Errorf("%w: revision longer than %d characters", ErrBadTrigger, maxRevision)
	case strings.HasPrefix(rev, "-"):
		return req, fmt.Errorf("%w: revision %q starts with '-'", ErrBadTrigger, rev)
	case strings.IndexFunc(rev, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return req, fmt.Errorf("%w: revision %q has a space or an unprintable character", ErrBadTrigger, rev)
	}
	return req, nil
}

func (r TriggerRequest) kind() (kind, rev string) {
	if r.Renoop != "" {
		return TriggerRenoop, r.Renoop
	}
	return TriggerNoop, r.Revision
}

// Handler serves POST /trigger and GET /trigger/{id}. Every request needs
// the bearer token: a missing or wrong one is answered 401.
func (t *Trigger) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /trigger", t.servePost)
	mux.HandleFunc("GET /trigger/{id}", t.serveGet)
	return mux
}

// requestTimeout bounds one request: a fetch of the mirror, a question
// to the nooper, a KV write.
const requestTimeout = 30 * time.Second

func (t *Trigger) servePost(w http.ResponseWriter, r *http.Request) {
	log := t.log.With().Str("remote", r.RemoteAddr).Logger()
	if err := t.authorize(r.Header.Get("Authorization")); err != nil {
		t.refuse(w, log, http.StatusUnauthorized, outcomeUnauthorized, err)
		return
	}
	req, err := ParseTriggerRequest(http.MaxBytesReader(w, r.Body, MaxTriggerBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		t.refuse(w, log, http.StatusRequestEntityTooLarge, outcomeBadRequest, fmt.Errorf("%w: body larger than %d bytes", ErrBadTrigger, MaxTriggerBody))
		return
	case err != nil:
		t.refuse(w, log, http.StatusBadRequest, outcomeBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	st, err := t.Accept(ctx, req)
	switch {
	case errors.Is(err, gitrepo.ErrUnknownRevision):
		t.refuse(w, log, http.StatusNotFound, outcomeUnknown, fmt.Errorf("the repository has no revision %q", revisionOf(req)))
	case isUnknownCommit(err):
		t.refuse(w, log, http.StatusNotFound, outcomeUnknown, fmt.Errorf("the nooper has no noop of %q to do again: ask {\"revision\": %q} to noop it", req.Renoop, req.Renoop))
	case errors.Is(err, ErrNotOnBranch):
		t.refuse(w, log, http.StatusUnprocessableEntity, outcomeNotOnBranch, err)
	case err != nil:
		t.refuse(w, log, http.StatusServiceUnavailable, outcomeUnavailable, err)
	default:
		t.metrics.triggers.WithLabelValues(outcomeAccepted).Inc()
		w.Header().Set("Location", "/trigger/"+st.ID)
		writeJSON(w, http.StatusAccepted, st)
	}
}

func (t *Trigger) serveGet(w http.ResponseWriter, r *http.Request) {
	log := t.log.With().Str("remote", r.RemoteAddr).Logger()
	if err := t.authorize(r.Header.Get("Authorization")); err != nil {
		t.refuse(w, log, http.StatusUnauthorized, outcomeUnauthorized, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	st, err := t.Status(ctx, r.PathValue("id"))
	switch {
	case errors.Is(err, ErrUnknownTrigger):
		writeError(w, http.StatusNotFound, err)
	case err != nil:
		log.Warn().Err(err).Msg("trigger status")
		writeError(w, http.StatusServiceUnavailable, err)
	default:
		writeJSON(w, http.StatusOK, st)
	}
}

// refuse answers status with err as {"error": ...}, logs it and counts
// the outcome.
func (t *Trigger) refuse(w http.ResponseWriter, log zerolog.Logger, status int, outcome string, err error) {
	t.metrics.triggers.WithLabelValues(outcome).Inc()
	log.Warn().Err(err).Int("status", status).Msg("trigger refused")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="balcony"`)
	}
	writeError(w, status, err)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func revisionOf(req TriggerRequest) string {
	_, rev := req.kind()
	return rev
}

func isUnknownCommit(err error) bool { return errors.Is(err, nooper.ErrUnknownCommit) }
