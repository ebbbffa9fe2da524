package policy

import "github.com/capslayer/rules_capslayer/capslayer/caps"

// Danger is one entry of the built-in dangerous-capability list.
type Danger struct {
	// Cap is the capability number.
	Cap int
	// Reason says, in a few words, what a program holding the capability
	// can do.
	Reason string
	// Sources lists the keys of the sources (see DangerSources) that flag
	// the capability.
	Sources []string
}

// DangerSources maps the source keys used in Danger.Sources to what they
// stand for. docs/policy.md cites them in full.
var DangerSources = map[string]string{
	"week14":        `the guide "Week 14 - Capabilities for Containers" (14.2, 14.4): SYS_ADMIN "avoid at all costs", SYS_PTRACE "debug containers only", NET_ADMIN "app containers should not", DAC_OVERRIDE "almost always a sign of bad file ownership", NET_RAW "often dropped"`,
	"podman":        `podman run --cap-add documentation: "CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_MKNOD and CAP_SYS_MODULE are particularly dangerous when they are not used within a user namespace"`,
	"docker":        "not in Docker's default capability set (moby oci/defaults.go), i.e. Docker considers it too dangerous to grant by default",
	"pss":           "the only Docker default that the Kubernetes Pod Security Standards baseline level does not allow",
	"gtfobins":      "GTFOBins \"Capabilities\" and MITRE ATT&CK T1548.001 tests: cap_setuid on a program is a privilege-escalation backdoor",
	"root-equiv":    "root-equivalent for a program that holds it: it can rewrite or take over files and identities that lead to full root (capabilities(7))",
	"capabilities7": "capabilities(7) description of what the capability allows",
}

// dangers is the built-in dangerous list. A capability is on it when a
// program holding it can become root, read or change any file, or reach
// outside the container. There is no single authoritative list for file
// capabilities; this is the union of the sources in DangerSources.
var dangers = []Danger{
	{mustCap("SYS_ADMIN"), "mount, namespaces and dozens of other administrative operations; equivalent to root in most threat models", []string{"week14", "podman", "docker"}},
	{mustCap("SYS_MODULE"), "loads kernel modules: full control of the kernel", []string{"podman", "docker"}},
	{mustCap("SYS_PTRACE"), "reads and writes the memory of other processes", []string{"week14", "podman", "docker"}},
	{mustCap("SYS_RAWIO"), "raw I/O ports and /dev/mem: direct hardware and memory access", []string{"docker", "capabilities7"}},
	{mustCap("SYS_BOOT"), "reboot(2) and kexec_load(2): loads and boots another kernel", []string{"docker", "capabilities7"}},
	{mustCap("DAC_OVERRIDE"), "bypasses file read, write and execute permission checks", []string{"week14", "root-equiv"}},
	{mustCap("DAC_READ_SEARCH"), "bypasses file read and directory search permission checks and calls open_by_handle_at(2)", []string{"docker", "capabilities7"}},
	{mustCap("FOWNER"), "bypasses file owner checks: chmod and change attributes of any file", []string{"root-equiv"}},
	{mustCap("CHOWN"), "changes the owner of any file", []string{"root-equiv"}},
	{mustCap("SETUID"), "switches to any user ID, including 0", []string{"gtfobins", "root-equiv"}},
	{mustCap("SETGID"), "switches to any group ID and sets supplementary groups", []string{"root-equiv"}},
	{mustCap("SETFCAP"), "sets file capabilities on any file, so it can grant itself any capability in the bounding set", []string{"root-equiv"}},
	{mustCap("SETPCAP"), "adds bounding-set capabilities to its inheritable set and changes securebits", []string{"root-equiv"}},
	{mustCap("MKNOD"), "creates device nodes", []string{"podman"}},
	{mustCap("NET_ADMIN"), "configures interfaces, routes and firewall rules", []string{"week14", "docker"}},
	{mustCap("NET_RAW"), "raw and packet sockets: forge packets and spoof addresses on the pod network", []string{"week14", "pss"}},
	{mustCap("BPF"), "privileged bpf(2) operations: loads BPF programs and creates maps", []string{"docker", "capabilities7"}},
}

// Dangerous returns the built-in dangerous-capability list, in capability
// number order.
func Dangerous() []Danger {
	out := make([]Danger, 0, len(dangers))
	for _, c := range DangerousMask().List() {
		d, _ := DangerOf(c)
		out = append(out, d)
	}
	return out
}

// DangerousMask returns the built-in dangerous capabilities as a mask.
func DangerousMask() caps.Mask {
	var m caps.Mask
	for _, d := range dangers {
		m |= 1 << uint(d.Cap)
	}
	return m
}

// DangerOf returns the dangerous-list entry of capability c, and whether
// there is one.
func DangerOf(c int) (Danger, bool) {
	for _, d := range dangers {
		if d.Cap == c {
			return d, true
		}
	}
	return Danger{}, false
}

func mustCap(name string) int {
	c, ok := caps.Lookup(name)
	if !ok {
		panic("policy: unknown capability " + name)
	}
	return c
}
