//go:build unix

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// layerProcess returns capslayer layer as a separate process (the test
// binary running TestLayerHelperProcess) writing out and desc.
func layerProcess(src, out, desc, caps string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestLayerHelperProcess$", "--",
		"layer", "--binary", src, "--path", "/app/server", "--caps", caps, "--output", out, "--descriptor", desc)
	cmd.Env = append(os.Environ(), "CAPSLAYER_TEST_HELPER=1", "SOURCE_DATE_EPOCH=")
	return cmd
}

// checkPair fails unless desc is absent or describes the layer at out (its
// digest and size).
func checkPair(t *testing.T, out, desc string) (present bool) {
	t.Helper()
	db, err := os.ReadFile(desc)
	if os.IsNotExist(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	lb, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("descriptor present but layer unreadable: %v", err)
	}
	var d struct {
		Digest string `json:"digest"`
		Size   int64  `json:"size"`
		Files  []struct {
			Caps string `json:"caps"`
		} `json:"files"`
	}
	if err := json.Unmarshal(db, &d); err != nil {
		t.Fatalf("descriptor is not JSON (%v): %q", err, db)
	}
	if want := fmt.Sprintf("sha256:%x", sha256.Sum256(lb)); d.Digest != want || d.Size != int64(len(lb)) {
		t.Fatalf("descriptor says %s (%d bytes), layer is %s (%d bytes): a mismatched pair", d.Digest, d.Size, want, len(lb))
	}
	return true
}

func tempLitter(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var litter []string
	for _, e := range ents {
		if n := e.Name(); n != "l.tar.gz" && n != "l.json" {
			litter = append(litter, n)
		}
	}
	return litter
}

// TestLayerKilledRuns (issue 15, "crash safety"): 20 runs of capslayer
// layer --descriptor are killed with SIGKILL at random points. After every
// kill the descriptor is absent or matches the layer; after the next
// complete run only the layer and its descriptor are left.
func TestLayerKilledRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 20 killed runs take a few seconds")
	}
	dir, outDir := t.TempDir(), t.TempDir()
	src := filepath.Join(dir, "server")
	r := rand.New(rand.NewPCG(15, 20))
	data := make([]byte, 16<<20) // incompressible, so that gzip takes a while
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	os.WriteFile(src, data, 0o755)
	out, desc := filepath.Join(outDir, "l.tar.gz"), filepath.Join(outDir, "l.json")

	// The shortest of three complete runs: kills land within it.
	full := time.Hour
	for range 3 {
		start := time.Now()
		if b, err := layerProcess(src, out, desc, "cap_net_raw=p").CombinedOutput(); err != nil {
			t.Fatalf("complete run: %v\n%s", err, b)
		}
		full = min(full, time.Since(start))
	}
	killedMidway, litterSeen := 0, 0
	for i := range 20 {
		caps := []string{"cap_net_raw=p", "cap_chown=p"}[i%2] // each run changes the pair
		cmd := layerProcess(src, out, desc, caps)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(r.Int64N(int64(full))))
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ws, ok := err.(*exec.ExitError); ok && ws.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL {
			killedMidway++
		}
		if len(tempLitter(t, outDir)) > 0 {
			litterSeen++
		}
		checkPair(t, out, desc)
		if b, err := layerProcess(src, out, desc, caps).CombinedOutput(); err != nil {
			t.Fatalf("run after kill %d: %v\n%s", i, err, b)
		}
		if l := tempLitter(t, outDir); len(l) > 0 {
			t.Fatalf("after kill %d and a complete run, %s holds %q", i, outDir, l)
		}
		if !checkPair(t, out, desc) {
			t.Fatalf("after kill %d and a complete run, the descriptor is missing", i)
		}
	}
	t.Logf("20 SIGKILLs over a %v run: %d killed it midway, %d left temporaries, every one cleaned by the next run", full, killedMidway, litterSeen)
	if killedMidway < 5 { // a loaded machine runs some to the end anyway
		t.Errorf("only %d of 20 kills hit a running process: the test did not exercise kills", killedMidway)
	}
}

// TestLayerConcurrentRuns (issue 15): 30 runs with the same --output and
// --descriptor but different capabilities at once always leave a matching
// pair and nothing else.
func TestLayerConcurrentRuns(t *testing.T) {
	dir, outDir := t.TempDir(), t.TempDir()
	src := filepath.Join(dir, "server")
	os.WriteFile(src, bytes.Repeat([]byte("ELF binary "), 200000), 0o755)
	out, desc := filepath.Join(outDir, "l.tar.gz"), filepath.Join(outDir, "l.json")
	names := []string{"cap_chown", "cap_kill", "cap_net_raw", "cap_net_admin", "cap_setuid", "cap_sys_time"}
	var wg sync.WaitGroup
	errs := make(chan string, 30)
	for i := range 30 {
		wg.Go(func() {
			if b, err := layerProcess(src, out, desc, names[i%len(names)]+"=p").CombinedOutput(); err != nil {
				errs <- fmt.Sprintf("run %d: %v\n%s", i, err, b)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if !checkPair(t, out, desc) {
		t.Fatal("descriptor missing after 30 complete runs")
	}
	if l := tempLitter(t, outDir); len(l) > 0 {
		t.Errorf("%s holds %q after 30 runs", outDir, l)
	}
	ents, _ := os.ReadDir(outDir)
	got := []string{}
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, []string{"l.json", "l.tar.gz"}) || !strings.Contains(got[0], "json") {
		t.Errorf("outputs %q", got)
	}
}
