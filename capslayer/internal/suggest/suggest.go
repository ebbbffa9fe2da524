// Package suggest finds the likely intended word for a mistyped one, for
// the did-you-mean of error messages (capability names, flags,
// subcommands).
package suggest

// Distance is the Levenshtein distance between a and b, in bytes.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Closest returns the candidate nearest to word, if it is near enough to
// be a likely typo: at most max(2, len(word)/4) edits. Of candidates at the
// same distance the first wins, so the answer does not depend on map
// order when candidates is sorted.
func Closest(word string, candidates []string) (string, bool) {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := Distance(word, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(2, len(word)/4) {
		return "", false
	}
	return best, true
}
