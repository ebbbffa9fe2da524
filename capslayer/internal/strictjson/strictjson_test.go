package strictjson

import (
	"encoding/json"
	"strings"
	"testing"
)

type inner struct {
	Path   string `json:"path,omitempty"`
	Reason string `json:"reason"`
}

type doc struct {
	Name    *string           `json:"name,omitempty"`
	List    []inner           `json:"list"`
	One     inner             `json:"one"`
	Labels  map[string]string `json:"labels"`
	Any     any               `json:"any"`
	Ignored string            `json:"-"`
	Plain   int
	hidden  int
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string // "" accepts
		problem  string
	}{
		{"valid", `{"name":"a","list":[{"path":"/x","reason":"r\"q"}],"one":{"reason":"\u00e9"},"labels":{"A":"1","a":"2"},"any":{"x":[{"y":1}]},"Plain":3}`, "", ""},
		{"empty", `{}`, "", ""},
		{"scalar value with escapes", `{"name":"\u0070"}`, "", ""},
		{"case", `{"NAME":"a"}`, `line 1, column 2 (byte 1): unknown key "NAME": keys are exact and case-sensitive; did you mean "name"? known keys: name, list, one, labels, any, Plain`, Unknown},
		{"unicode folding", "{\n  \"liſt\": []\n}", `line 2, column 3 (byte 4): unknown key "liſt": keys are exact and case-sensitive; did you mean "list"?`, Unknown},
		{"nested folding", `{"one":{"path":"/a","reaſon":""}}`, `unknown key "reaſon" in one: keys are exact and case-sensitive; did you mean "reason"?`, Unknown},
		{"untagged field exact", `{"plain":3}`, `unknown key "plain": keys are exact and case-sensitive; did you mean "Plain"?`, Unknown},
		{"json dash", `{"Ignored":"x"}`, `unknown key "Ignored"`, Unknown},
		{"unexported", `{"hidden":1}`, `unknown key "hidden"`, Unknown},
		{"nested in list", `{"list":[{"reason":"a"},{"Reason":"b"}]}`, `line 1, column 26 (byte 25): unknown key "Reason" in list[1]: keys are exact and case-sensitive; did you mean "reason"? known keys: path, reason`, Unknown},
		{"duplicate top", "{\"name\":\"a\",\n\"name\":\"b\"}", `line 2, column 1 (byte 13): key "name" appears twice in one object (first at line 1, column 2)`, Duplicate},
		{"duplicate nested", `{"list":[{"reason":"a","reason":"b"}]}`, `key "reason" in list[0] appears twice`, Duplicate},
		{"duplicate in map", `{"labels":{"a":"1","a":"2"}}`, `key "a" in labels appears twice`, Duplicate},
		{"duplicate in any", `{"any":[{"k":1,"k":2}]}`, `key "k" in any[0] appears twice`, Duplicate},
		{"escaped", `{"\u006eame":"a"}`, `line 1, column 2 (byte 1): key "name" is written with a backslash escape`, Escaped},
		{"escaped in map", `{"labels":{"\"":"1"}}`, `key "\"" in labels is written with a backslash escape`, Escaped},
		{"hostile key", "{\"\u202eeman\":1}", `unknown key "\u202eeman"`, Unknown},
		{"non-ASCII before", "{\"any\":\"ééé\", \"Any\":1}", `line 1, column 15 (byte 17): unknown key "Any"`, Unknown},
		{"deep", strings.Repeat(`{"any":`, 40) + "1" + strings.Repeat("}", 40), "nested more than 32 levels deep", ""},
		{"syntax", `{"name":}`, "invalid character", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			err := Check([]byte(tc.in), &d)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if err := json.Unmarshal([]byte(tc.in), &d); err != nil {
					t.Fatalf("encoding/json refuses what Check accepts: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check error\n%v\nwant it to contain\n%s", err, tc.want)
			}
			ke, ok := err.(*KeyError)
			if (tc.problem != "") != ok || (ok && ke.Problem != tc.problem) {
				t.Errorf("error %#v, want problem %q", err, tc.problem)
			}
		})
	}
}

// TestCheckAgreesWithEncodingJSON: every key Check accepts in a struct is
// one encoding/json assigns to the same field.
func TestCheckAgreesWithEncodingJSON(t *testing.T) {
	in := `{"name":"n","list":[{"path":"/p","reason":"r"}],"one":{"reason":"o"},"Plain":7}`
	var d doc
	if err := Check([]byte(in), &d); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal([]byte(in), &d)
	if *d.Name != "n" || d.List[0].Path != "/p" || d.One.Reason != "o" || d.Plain != 7 {
		t.Errorf("decoded %+v", d)
	}
}
