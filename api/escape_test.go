package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// Errors that echo user input come back as JSON, with the input escaped:
// no response of the API carries a raw <script>.
func TestErrorsEscapeInput(t *testing.T) {
	mux := testAPI(t)
	const evil = `<script>alert(1)</script>`
	for _, target := range []string{
		"/api/v1/query?" + url.Values{"query": {evil}}.Encode(),
		"/api/v1/query?" + url.Values{"query": {`up{job="` + evil + `"} +`}}.Encode(),
		"/api/v1/query_range?" + url.Values{"query": {evil}, "start": {"0"}, "end": {"1"}, "step": {"1"}}.Encode(),
		"/api/v1/query?" + url.Values{"query": {"up"}, "time": {evil}}.Encode(),
		"/api/v1/query?" + url.Values{"query": {"up"}, "timeout": {evil}}.Encode(),
		"/api/v1/parse_query?" + url.Values{"query": {evil}}.Encode(),
		"/api/v1/series?" + url.Values{"match[]": {evil}}.Encode(),
		"/api/v1/labels?" + url.Values{"match[]": {`{a="` + evil}}.Encode(),
		"/api/v1/label/" + url.PathEscape(evil) + "/values",
		"/api/v1/query?query=%zz" + url.QueryEscape(evil),
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		body := rec.Body.String()
		if rec.Code != http.StatusBadRequest && !strings.HasPrefix(target, "/api/v1/label/") { // any UTF-8 label name is valid
			t.Errorf("%s: status %d, want 400: %s", target, rec.Code, body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", target, ct)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", target)
		}
		if strings.ContainsAny(body, "<>") {
			t.Errorf("%s: raw markup in %s", target, body)
		}
	}
	// The input is still there to read, once a JSON client decodes it.
	_, e := call(t, mux, "/api/v1/query", url.Values{"query": {"up"}, "time": {evil}})
	if e.ErrorType != "bad_data" || !strings.Contains(e.Error, evil) {
		t.Errorf("decoded error %q (%s) does not quote the input", e.Error, e.ErrorType)
	}
}
