package requirements

import (
	"fmt"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/runtimes"
)

// Target is a runtime the advice is for.
type Target string

// The targets, in the order Result.Runtimes lists them.
const (
	Docker                Target = "docker"
	Podman                Target = "podman"
	KubernetesContainerd  Target = "kubernetes-containerd"
	KubernetesCRIO        Target = "kubernetes-cri-o"
	matrixPage                   = "docs/runtime-matrix.md"
	netBindServiceCapName        = "NET_BIND_SERVICE"
)

// Targets lists every target.
var Targets = []Target{Docker, Podman, KubernetesContainerd, KubernetesCRIO}

// Runtime is the least privilege measured to work on one target.
type Runtime struct {
	Target Target `json:"target"`
	// Name is the target for people ("Kubernetes on containerd").
	Name string `json:"name"`
	// Measured is true when an end-to-end test ran the engine; Evidence
	// names the test and the page that records it, or, when not
	// measured, the sources the advice rests on.
	Measured bool   `json:"measured"`
	Evidence string `json:"evidence"`
	// EngineAdvice is set for an engine (docker, podman).
	EngineAdvice
	// KubernetesAdvice is set for Kubernetes.
	KubernetesAdvice
	// NoNewPrivs says whether the advice sets no_new_privs
	// (allowPrivilegeEscalation: false): only where it was measured to
	// keep the file capabilities working.
	NoNewPrivs bool `json:"no_new_privs"`
	// Caveats are the facts of this target that change the outcome, one
	// idea each.
	Caveats []string `json:"caveats"`
}

// EngineAdvice is how to run the image on an engine. Its fields are inline
// in the JSON of a Runtime, and empty (left out) for Kubernetes.
type EngineAdvice struct {
	// Command is the run command (docker, podman) as argv, IMAGE being
	// Options.ImageRef; RunFlags are its flags alone.
	Command  []string `json:"command,omitempty"`
	RunFlags []string `json:"run_flags,omitempty"`
}

// advice returns the advice for every target; imageRef is what the run
// commands run (checked by Compute).
func advice(needed caps.Mask, u user, imageRef string) []Runtime {
	names := needed.DockerNames()
	flags := []string{"--cap-drop", "ALL"}
	for _, c := range names {
		flags = append(flags, "--cap-add", c)
	}
	if u.kind != userUnknown && u.name != "" && userFlagOK(u.name) {
		flags = append(flags, "--user", u.name)
	}
	lowPorts := needed.Has(mustCap(netBindServiceCapName))
	nonRoot := needed != 0 && u.kind != userRoot

	run := func(engine string) EngineAdvice {
		return EngineAdvice{Command: append(append([]string{engine, "run"}, flags...), imageRef), RunFlags: flags}
	}
	docker := Runtime{
		Target: Docker, Name: "Docker Engine", Measured: true,
		Evidence:     "e2e/docker; " + matrixPage,
		EngineAdvice: run("docker"), Caveats: []string{},
	}
	if nonRoot {
		docker.Caveats = append(docker.Caveats, "--security-opt no-new-privileges loses the file capabilities before Docker 24.0.6, which grants a non-root process the bounding set only; later ones keep them (moby#45511)")
	}
	if lowPorts {
		docker.Caveats = append(docker.Caveats, "Docker sets net.ipv4.ip_unprivileged_port_start=0 in the container: there, any program binds ports below 1024")
	}

	podman := Runtime{
		Target: Podman, Name: "podman", Measured: true,
		Evidence:     "e2e/podman, rootful and rootless; " + matrixPage,
		EngineAdvice: run("podman"), Caveats: []string{},
	}
	if nonRoot {
		podman.Caveats = append(podman.Caveats,
			"podman also puts --cap-add capabilities in a non-root process's ambient set: they work even without the file capability",
			"rootless podman: works; the kernel stores the capability as revision 3 for the user's namespace")
	}

	kube := kubernetes(needed, u)
	k8s := Runtime{
		Target: KubernetesContainerd, Name: "Kubernetes on containerd", Measured: true,
		Evidence:         "e2e/cri, through the CRI as the kubelet; " + matrixPage,
		KubernetesAdvice: kube, NoNewPrivs: true, Caveats: []string{},
	}
	if needed != 0 {
		k8s.Caveats = append(k8s.Caveats,
			"allowPrivilegeEscalation: false works: containerd puts added capabilities in the permitted set, and exec keeps file capabilities within it",
			"the file with capabilities must be what the container execs: under no_new_privs, an exec through a wrapper without them loses them")
	}
	if lowPorts {
		k8s.Caveats = append(k8s.Caveats, "containerd 2.x enables enable_unprivileged_ports: pods get ip_unprivileged_port_start=0 and any program binds ports below 1024")
	}

	crio := Runtime{
		Target: KubernetesCRIO, Name: "Kubernetes on CRI-O", Measured: false,
		Evidence:         "not measured: CRI-O is not packaged in Debian",
		KubernetesAdvice: kube, NoNewPrivs: true, Caveats: []string{},
	}
	if needed != 0 {
		crio.Caveats = append(crio.Caveats, "expected to work as on containerd: CRI-O adds each capability to the bounding, effective and permitted sets (cri-o internal/factory/container/container.go, SpecSetupCapabilities)")
	}
	if lowPorts {
		crio.Caveats = append(crio.Caveats, "CRI-O keeps ip_unprivileged_port_start at 1024 unless the pod or default_sysctls set it (cri-o#10050)")
	}
	return []Runtime{docker, podman, k8s, crio}
}

// kubernetes returns the container securityContext and its Pod Security
// Standards level, the same on every Kubernetes. It is the restricted profile (drop ALL, add the needed
// capabilities, allowPrivilegeEscalation: false, runAsNonRoot, seccomp
// RuntimeDefault) except where the user or the capabilities rule it out.
func kubernetes(needed caps.Mask, u user) KubernetesAdvice {
	sc := &SecurityContext{
		AllowPrivilegeEscalation: false,
		Capabilities:             CapabilitiesContext{Drop: []string{"ALL"}, Add: needed.DockerNames()},
		SeccompProfile:           SeccompProfile{Type: "RuntimeDefault"},
	}
	yes := true
	switch u.kind {
	case userNonRoot:
		sc.RunAsNonRoot = &yes
		sc.RunAsUser, sc.RunAsGroup = u.uid, u.gid
		if u.uid == nil {
			sc.Comments = append(sc.Comments, fmt.Sprintf("the image runs as user %s: set runAsUser to its numeric uid, or the kubelet cannot check runAsNonRoot", printable.String(u.name)))
		}
	case userRoot:
		sc.Comments = append(sc.Comments, "the image runs as root: runAsNonRoot: true would keep it from starting")
	case userUnknown:
		sc.RunAsNonRoot = &yes
		sc.Comments = append(sc.Comments, "user unknown: add runAsUser: <non-zero uid>")
	}
	level, reason := runtimes.PodSecurityLevel(needed, u.kind == userRoot)
	return KubernetesAdvice{SecurityContext: sc, PodSecurityLevel: level, PodSecurityReason: reason}
}

func mustCap(name string) int {
	c, ok := caps.Lookup(name)
	if !ok {
		panic("requirements: unknown capability " + name)
	}
	return c
}

// userFlagOK reports whether the run commands can pass user as --user's
// value: it must be printable (a shell line shows it) and must not start
// with "-" (an engine must not read it as a flag).
func userFlagOK(user string) bool {
	return !strings.HasPrefix(user, "-") && printable.Safe(user)
}
