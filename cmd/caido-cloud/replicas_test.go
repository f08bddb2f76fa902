package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// startServe runs `caido-cloud serve` with env and waits until /readyz
// answers 200; it is stopped with SIGTERM when the test ends.
func startServe(t *testing.T, env []string, addr string) {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	// Any free port for the operator listener: replicas on one machine.
	cmd.Env = append(env, "CAIDO_CLOUD_LISTEN_ADDR="+addr, "CAIDO_CLOUD_ADMIN_LISTEN_ADDR=127.0.0.1:0")
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("serve on %s after SIGTERM: %v\n%s", addr, err, out.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("serve on %s did not stop within 30s of SIGTERM", addr)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("serve on %s exited: %v\n%s", addr, err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve on %s not ready within 60s\n%s", addr, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTwoServeProcesses: two `serve` processes on one database, as two
// replicas behind one public URL. An instance registers on one, starts a
// device flow there, the user approves it (here, from the test process: a
// third party on the same database), and the instance redeems and
// introspects on the other.
func TestTwoServeProcesses(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.Config(t)
	a := testenv.App(t, cfg, testenv.Options{}) // migrates, creates the OpenFGA store
	testenv.RunOutbox(t, a)
	one := "127.0.0.1:" + strconv.Itoa(freePort(t))
	two := "127.0.0.1:" + strconv.Itoa(freePort(t))
	env := append(environ("DATABASE_URL", "OPENFGA_API_URL", "OPENFGA_API_TOKEN"),
		"DATABASE_URL="+cfg.DatabaseURL,
		"OPENFGA_API_URL="+cfg.OpenFGAURL,
		"OPENFGA_API_TOKEN="+cfg.OpenFGAToken,
		"CAIDO_CLOUD_MASTER_KEY="+base64.StdEncoding.EncodeToString(cfg.MasterKey),
		"CAIDO_CLOUD_PUBLIC_URL=http://"+one,
		"CAIDO_CLOUD_DEVICE_POLL_INTERVAL=1s",
	)
	startServe(t, env, one)
	startServe(t, env, two)

	post := func(addr, path string, form url.Values) (int, map[string]any) {
		resp, err := http.PostForm("http://"+addr+path, form)
		testenv.Must(t, err)
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	resp, err := http.Post("http://"+one+"/oauth2/register", "application/json", strings.NewReader(
		`{"scope":"profile:read offline","grant_types":["urn:ietf:params:oauth:grant-type:device_code","refresh_token"]}`))
	testenv.Must(t, err)
	var inst struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	testenv.Must(t, json.NewDecoder(resp.Body).Decode(&inst))
	resp.Body.Close()
	creds := url.Values{"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range creds {
			v[k] = vs
		}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}

	anne := testenv.User(t, a, "anne@example.test")
	client, err := a.Clients.Get(ctx, inst.ClientID)
	testenv.Must(t, err)
	_, err = a.Access.ClaimInstance(ctx, client.InstanceID, anne.ID, anne.DefaultWorkspaceID, "laptop")
	testenv.Must(t, err)

	status, da := post(one, "/oauth2/device/authorize", with("scope", "profile:read offline"))
	if status != 200 {
		t.Fatalf("device authorize on one: %d %v", status, da)
	}
	testenv.Must(t, a.Devices.Approve(ctx, da["user_code"].(string), anne.ID, []string{"profile:read", "offline"}))
	status, tok := post(two, "/oauth2/token", with("grant_type", "urn:ietf:params:oauth:grant-type:device_code", "device_code", da["device_code"].(string)))
	if status != 200 {
		t.Fatalf("redeem on two: %d %v", status, tok)
	}
	if status, again := post(one, "/oauth2/token", with("grant_type", "urn:ietf:params:oauth:grant-type:device_code", "device_code", da["device_code"].(string))); status != 400 || again["error"] != "invalid_grant" {
		t.Fatalf("a second redemption on one: %d %v", status, again)
	}
	if _, body := post(one, "/oauth2/introspect", with("token", tok["access_token"].(string))); body["active"] != true || body["sub"] != anne.ID {
		t.Fatalf("introspect on one a token minted by two: %v", body)
	}
	// A refresh on one, then the reuse of the same token on two: the session ends everywhere.
	status, refreshed := post(one, "/oauth2/token", with("grant_type", "refresh_token", "refresh_token", tok["refresh_token"].(string)))
	if status != 200 {
		t.Fatalf("refresh on one: %d %v", status, refreshed)
	}
	if status, reuse := post(two, "/oauth2/token", with("grant_type", "refresh_token", "refresh_token", tok["refresh_token"].(string))); status != 400 || reuse["error"] != "invalid_grant" {
		t.Fatalf("reuse on two: %d %v", status, reuse)
	}
	if _, body := post(one, "/oauth2/introspect", with("token", refreshed["access_token"].(string))); body["active"] != false {
		t.Fatalf("after reuse on two, one still finds the session's token active: %v", body)
	}
}
