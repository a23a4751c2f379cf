package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSecureHeaders(t *testing.T) {
	mux := NewMux()
	mux.Handle(
		R("GET /page", Public, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<p>hi</p>")
		}),
		R("GET /sniffed", Public, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "<!doctype html><p>hi</p>")
		}),
		R("GET /json", Read, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTeapot)
			fmt.Fprint(w, "{}")
		}),
		R("GET /error", Read, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", http.StatusBadRequest)
		}),
	)
	srv := httptest.NewServer(SecureHeaders(mux))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		path string
		code int
		html bool
	}{
		{"/page", 200, true},
		{"/sniffed", 200, true},
		{"/json", http.StatusTeapot, false},
		{"/error", http.StatusBadRequest, false},
		{"/missing", http.StatusNotFound, false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.code)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			csp, xfo := resp.Header.Get("Content-Security-Policy"), resp.Header.Get("X-Frame-Options")
			if tc.html && (csp != CSP || xfo != "DENY") {
				t.Errorf("HTML without CSP/X-Frame-Options: %q %q", csp, xfo)
			}
			if !tc.html && (csp != "" || xfo != "") {
				t.Errorf("%s (%s) got HTML headers %q %q", tc.path, resp.Header.Get("Content-Type"), csp, xfo)
			}
		})
	}
}

func TestMuxAccess(t *testing.T) {
	mux := NewMux()
	ok := func(http.ResponseWriter, *http.Request) {}
	mux.Handle(R("GET /-/healthy", Public, ok), R("POST /-/reload", Admin, ok), R("/api/v1/query", Read, ok))
	for _, tc := range []struct {
		method, path string
		want         Access
		found        bool
	}{
		{"GET", "/-/healthy", Public, true},
		{"POST", "/-/reload", Admin, true},
		{"POST", "/api/v1/query", Read, true},
		{"GET", "/nothing", 0, false},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		got, found := mux.AccessFor(r)
		if got != tc.want || found != tc.found {
			t.Errorf("%s %s: %v %v, want %v %v", tc.method, tc.path, got, found, tc.want, tc.found)
		}
	}
}
