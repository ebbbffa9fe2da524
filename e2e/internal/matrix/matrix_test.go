package matrix

import (
	"strings"
	"testing"
)

func TestRenderSpliceSections(t *testing.T) {
	obs := []Observation{
		{Engine: "docker", Version: "20.10.24", Runtime: "runc 1.1.5", Environment: "Debian 12", Case: "=ep | granted", CapPrm: "400", CapEff: "400", CapAmb: "0", NoNewPrivs: "0", Result: "binds :80"},
		{Engine: "docker", Version: "20.10.24", Runtime: "runc 1.1.5", Environment: "Debian 12", Case: "=ep not granted", Result: "exec fails: operation not permitted"},
		{Engine: "containerd CRI", Version: "1.6.20", Runtime: "runc 1.1.5", Environment: "Debian 12", Case: "x", Result: "y"},
	}
	secs := Render(obs)
	if len(secs) != 2 || secs[0].Key != "docker 20.10.24" || secs[1].Key != "containerd CRI 1.6.20" {
		t.Fatalf("sections %+v", secs)
	}
	want := "### docker 20.10.24 (runc 1.1.5; Debian 12)\n\n| case | CapPrm | CapEff | CapAmb | NoNewPrivs | result |\n|---|---|---|---|---|---|\n" +
		"| =ep \\| granted | 400 | 400 | 0 | 0 | binds :80 |\n| =ep not granted | – | – | – | – | exec fails: operation not permitted |\n"
	if secs[0].Body != want {
		t.Errorf("body =\n%s\nwant\n%s", secs[0].Body, want)
	}

	doc := "# Title\n\nintro\n\n<!-- matrix sections end -->\n\nafter\n"
	out, err := Splice(doc, secs)
	if err != nil {
		t.Fatal(err)
	}
	// Sorted by key, before the end line; the hand-written text stays.
	if i, j := strings.Index(out, "begin: containerd"), strings.Index(out, "begin: docker"); i < 0 || j < i || !strings.HasPrefix(out, "# Title\n\nintro\n\n") || !strings.HasSuffix(out, "<!-- matrix sections end -->\n\nafter\n") {
		t.Errorf("spliced:\n%s", out)
	}
	got, err := Sections(out)
	if err != nil || got["docker 20.10.24"] != secs[0].Body || got["containerd CRI 1.6.20"] != secs[1].Body {
		t.Errorf("Sections = %q, %v", got, err)
	}
	// Replacing a section keeps the others and is idempotent.
	secs[0].Body = "changed\n"
	again, err := Splice(out, secs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := Sections(again); got["docker 20.10.24"] != "changed\n" || got["containerd CRI 1.6.20"] != secs[1].Body {
		t.Errorf("after replacing: %q", got)
	}
	if twice, _ := Splice(again, secs[:1]); twice != again {
		t.Error("Splice is not idempotent")
	}
	if _, err := Splice("no end line\n", secs); err == nil {
		t.Error("Splice without the end line: no error")
	}
	if _, err := Sections("<!-- matrix begin: a -->\nbody\n"); err == nil {
		t.Error("Sections with an unterminated section: no error")
	}
}
