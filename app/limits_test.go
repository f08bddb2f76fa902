package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// serveLimited serves the app under limits, with one more route beside the
// service's: POST /test/stream reads a JSON body as the assistant's stream
// does, then streams a line every 200 ms for streamFor.
func serveLimited(t *testing.T, limits app.ServerLimits, streamFor time.Duration) string {
	t.Helper()
	a := testenv.App(t, testenv.Config(t), testenv.Options{})
	a.Limits = limits
	service := a.Handler
	mux := http.NewServeMux()
	mux.HandleFunc("POST /test/stream", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(&in); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for end := time.Now().Add(streamFor); time.Now().Before(end); {
			if _, err := fmt.Fprintf(w, "data: %s\n\n", time.Now().Format(time.RFC3339Nano)); err != nil {
				return
			}
			http.NewResponseController(w).Flush() //nolint:errcheck
			time.Sleep(200 * time.Millisecond)
		}
		fmt.Fprint(w, "event: done\ndata: {}\n\n")
	})
	mux.Handle("/", service)
	a.Handler = mux
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testenv.Must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// closedWithin reports whether the server closes conn within d: a read
// returns (EOF, or an answer such as 408 or 400) before d passes.
func closedWithin(conn net.Conn, d time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// TestSlowClientsDoNotHoldTheServer: three hundred connections each
// trickling a request header a byte at a time do not stop a normal request
// from being answered at once, and each is closed once the header timeout
// passes; a body trickled a byte at a time is cut at the read timeout; a
// stream that lasts longer than the read timeout is not cut.
func TestSlowClientsDoNotHoldTheServer(t *testing.T) {
	limits := app.ServerLimits{ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second, IdleTimeout: 5 * time.Second,
		MaxHeaderBytes: 8 << 10}
	addr := serveLimited(t, limits, 3*time.Second)

	const slow = 300
	var wg sync.WaitGroup
	var open, held atomic.Int64
	started := time.Now()
	for i := range slow {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Errorf("slow connection %d: %v", i, err)
				return
			}
			defer conn.Close()
			open.Add(1)
			// The start of a request, then a header a byte every 100 ms,
			// never finished.
			if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: cloud.test\r\nX-Slow: "); err != nil {
				return
			}
			stop := make(chan struct{})
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
						if _, err := conn.Write([]byte("a")); err != nil {
							return
						}
					}
				}
			}()
			if !closedWithin(conn, limits.ReadHeaderTimeout+3*time.Second) {
				held.Add(1)
			}
			close(stop)
		})
	}
	// While they trickle: a normal request is answered at once.
	time.Sleep(300 * time.Millisecond)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	asked := time.Now()
	resp, err := client.Get("http://" + addr + "/healthz")
	testenv.Must(t, err)
	resp.Body.Close()
	if took := time.Since(asked); resp.StatusCode != http.StatusOK || took > time.Second {
		t.Errorf("GET /healthz beside %d slow connections: %d in %s; want 200 at once", open.Load(), resp.StatusCode, took)
	}
	wg.Wait()
	if n := held.Load(); n > 0 {
		t.Errorf("%d of %d connections trickling their header were still open %s after the header timeout of %s",
			n, slow, time.Since(started)-limits.ReadHeaderTimeout, limits.ReadHeaderTimeout)
	}

	// A body trickled a byte every 100 ms (1,000 bytes: 100 s) is cut at
	// the read timeout.
	conn, err := net.Dial("tcp", addr)
	testenv.Must(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /oauth2/token HTTP/1.1\r\nHost: cloud.test\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
	testenv.Must(t, err)
	sent := time.Now()
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := conn.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	cut := closedWithin(conn, limits.ReadTimeout+3*time.Second)
	close(stop)
	if !cut {
		t.Errorf("a body trickled a byte every 100 ms was still being read %s after the read timeout of %s",
			time.Since(sent)-limits.ReadTimeout, limits.ReadTimeout)
	}

	// A stream that outlasts the read timeout (3 s against 2 s) reaches its end.
	resp, err = client.Post("http://"+addr+"/test/stream", "application/json", strings.NewReader(`{"model":"m"}`))
	testenv.Must(t, err)
	defer resp.Body.Close()
	var lines int
	var ended bool
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			lines++
		}
		ended = ended || sc.Text() == "event: done"
	}
	if !ended {
		t.Errorf("a stream longer than the read timeout was cut after %d events (%v)", lines, sc.Err())
	}
}

// TestHugeHeaderIsRefused: with the limits `serve` uses, a request header
// of 100 KB is answered 431, not read into memory (net/http's default
// allows 1 MB).
func TestHugeHeaderIsRefused(t *testing.T) {
	addr := serveLimited(t, app.DefaultServerLimits, 0)
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 100<<10))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	testenv.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a 100 KB header: %d, want 431", resp.StatusCode)
	}
	// An ordinary request with a bearer token and a cookie is well within.
	req, _ = http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("t", 2048))
	req.Header.Set("Cookie", "__Host-session="+strings.Repeat("c", 512))
	resp, err = http.DefaultClient.Do(req)
	testenv.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("an ordinary request: %d, want 200", resp.StatusCode)
	}
}
