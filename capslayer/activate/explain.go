//go:build linux

package activate

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// Cause is one likely reason why capabilities are missing, and what to do
// about it.
type Cause struct {
	// Message says what is wrong, naming the evidence.
	Message string
	// Fix says what to change: runtime flags, Kubernetes securityContext
	// fields, or how the image is built.
	Fix string
}

// Explain returns the likely reasons why the process does not hold every
// capability in wanted in its permitted set, most specific first. It returns
// nil when it holds them all.
func (r Report) Explain(wanted ...cap.Value) []Cause {
	missing := r.missing(wanted)
	if len(missing) == 0 {
		return nil
	}
	var causes []Cause
	add := func(c Cause) { causes = append(causes, c) }

	var unknown, unbounded, bounded []cap.Value
	for _, v := range missing {
		switch {
		case r.KernelCaps > 0 && int(v) >= r.KernelCaps:
			unknown = append(unknown, v)
		case !r.Bounding.Has(int(v)):
			unbounded = append(unbounded, v)
		default:
			bounded = append(bounded, v)
		}
	}

	if len(unknown) > 0 {
		add(Cause{
			Message: fmt.Sprintf("the running kernel does not know %s (it has %d capabilities)", names(unknown), r.KernelCaps),
			Fix:     "run on a kernel that has it, or do not ask for it",
		})
	}

	if len(unbounded) > 0 {
		msg := fmt.Sprintf("%s %s not in the bounding set (CapBnd: %016x): the container runtime did not grant %s",
			names(unbounded), isAre(unbounded), uint64(r.Bounding), itThem(unbounded))
		if r.EUID == 0 {
			msg = "running as root (uid 0), the process holds exactly what the container runtime grants, and " + msg
		} else {
			msg += ", so the kernel withheld " + itThem(unbounded) + " from the binary's file capabilities" +
				fmt.Sprintf(" (with =ep file capabilities instead of =p, the program would not even have started: %q)",
					"exec "+r.exeName()+": operation not permitted")
		}
		add(Cause{Message: msg, Fix: grantFix(unbounded)})
	}

	if len(bounded) > 0 {
		if r.EUID == 0 {
			add(Cause{
				Message: fmt.Sprintf("running as root (uid 0), the process would hold every capability of the bounding set, "+
					"yet it does not hold %s: %s dropped after start (for example by an earlier Raise), "+
					"or securebits (SECBIT_NOROOT) are set", names(bounded), itThemWas(bounded)),
				Fix: "raise every capability the program needs in a single Raise call at start-up",
			})
		} else {
			explained := r.explainFile(bounded, add)
			global := len(causes)
			if r.NoSuid {
				add(Cause{
					Message: fmt.Sprintf("%s is on a file system mounted nosuid, where the kernel ignores file capabilities", r.exeName()),
					Fix:     "run the binary from the image's root file system, not from a volume or tmpfs mounted nosuid",
				})
			}
			if r.TracerPID != 0 {
				add(Cause{
					Message: fmt.Sprintf("the process is traced (TracerPid: %d): the kernel does not grant file capabilities "+
						"to a traced exec unless the tracer holds them itself", r.TracerPID),
					Fix: "start the program without the debugger or strace, and attach to it afterwards",
				})
			}
			if r.NoNewPrivs {
				add(Cause{
					Message: fmt.Sprintf("no_new_privs is set (NoNewPrivs: 1): on exec the kernel grants file capabilities only up "+
						"to what the parent process already held, and it did not hold %s. Kubernetes sets it with "+
						"allowPrivilegeEscalation: false, docker and podman with --security-opt no-new-privileges", names(bounded)),
					Fix: fmt.Sprintf("keep no_new_privs and make the runtime hand %s to the process in its permitted set, which "+
						"no_new_privs does not take away: Kubernetes on containerd or CRI-O does for securityContext.capabilities.add: [%s] "+
						"(allowPrivilegeEscalation: false stays); podman does for %s with a non-root user; Docker does for %s "+
						"since 24.0.6 (moby#45511): on an older Docker, upgrade it or drop --security-opt no-new-privileges",
						itThem(bounded), quotedDockerNames(bounded), capAddFlags(bounded), capAddFlags(bounded)),
				})
			}
			var rest []cap.Value
			if len(causes) == global {
				for _, v := range bounded {
					if !explained.Has(int(v)) {
						rest = append(rest, v)
					}
				}
			}
			if len(rest) > 0 {
				add(Cause{
					Message: fmt.Sprintf("%s %s in the binary's file capabilities (%s) and in the bounding set, and no_new_privs "+
						"is off, yet the process does not hold %s: something dropped %s after exec, or a security module "+
						"(AppArmor, SELinux) withheld %s", names(rest), isAre(rest), r.fileText(), itThem(rest),
						itThem(rest), itThem(rest)),
					Fix: "call activate.Raise first thing in main, before other code changes capabilities, and check the container's security profile",
				})
			}
		}
	}

	for _, v := range missing {
		if v == cap.NET_BIND_SERVICE && r.UnprivilegedPortStart >= 0 {
			add(r.portCause())
		}
	}
	return causes
}

// explainFile adds the cause, if any, found in the binary's own xattr for
// capabilities that are in the bounding set but were not granted, and returns
// the capabilities it explains.
func (r Report) explainFile(vs []cap.Value, add func(Cause)) caps.Mask {
	exe := r.exeName()
	userns := "rebuild the layer with namespace-independent (v2) file capabilities, as capslayer writes them; " +
		"v3 is written when an image is built or unpacked inside a user namespace " +
		"(rootless podman or buildah, docker with userns-remap)"
	switch f, ferr := r.File, r.FileErr; {
	case errors.Is(ferr, syscall.EOPNOTSUPP):
		add(Cause{
			Message: fmt.Sprintf("the file system holding %s does not support the security.capability extended attribute (%v), "+
				"so file capabilities cannot apply", exe, ferr),
			Fix: "run the binary from the image's root file system on a storage driver that keeps xattrs " +
				"(overlay2 on ext4 or xfs), not from a volume without xattr support",
		})
	case errors.Is(ferr, syscall.EOVERFLOW):
		add(Cause{
			Message: fmt.Sprintf("%s carries file capabilities written for another user namespace "+
				"(a v3 security.capability whose rootid does not map into this one); the kernel ignores them", exe),
			Fix: userns,
		})
	case ferr != nil:
		add(Cause{
			Message: fmt.Sprintf("the file capabilities of %s could not be read: %v", exe, ferr),
			Fix:     fmt.Sprintf("check them inside the container with: getcap %s", exe),
		})
	case f == nil:
		add(Cause{
			Message: fmt.Sprintf("%s carries no file capabilities (no security.capability extended attribute), "+
				"so exec granted nothing", exe),
			Fix: fmt.Sprintf("the attribute was lost on the way into the container: Dockerfile COPY and COPY --from drop it, "+
				"so do docker cp and tar without --xattrs --xattrs-include='*', and some storage drivers do not keep it. "+
				"Give the binary its capabilities in the image's last layer (a capslayer layer, or RUN setcap %s=p in "+
				"the final stage) and check inside the container with: getcap %s", joinValues(vs, ","), exe),
		})
	case f.Revision == 3:
		add(Cause{
			Message: fmt.Sprintf("the binary's file capabilities (%s) are namespaced (security.capability v3): the kernel "+
				"applies them only in a user namespace whose root is uid %d, which is not this process's, so it ignored them",
				f, f.RootID),
			Fix: userns,
		})
	default:
		var absent, inhOnly []cap.Value
		for _, v := range vs {
			if !f.Caps.Permitted.Has(int(v)) {
				absent = append(absent, v)
				if f.Caps.Inheritable.Has(int(v)) {
					inhOnly = append(inhOnly, v)
				}
			}
		}
		if len(absent) == 0 {
			return 0
		}
		msg := fmt.Sprintf("the binary's file capabilities (%s) do not permit %s", f, names(absent))
		if len(inhOnly) > 0 {
			msg += fmt.Sprintf(" (%s %s only inheritable, which grants nothing unless the parent passes %s on)",
				names(inhOnly), isAre(inhOnly), itThem(inhOnly))
		}
		add(Cause{
			Message: msg,
			Fix: fmt.Sprintf("add %s to the permitted set where the image sets the file capabilities (for example %q), or do not ask for %s",
				itThem(absent), caps.FileCaps{Permitted: f.Caps.Permitted | maskOf(absent)}, itThem(absent)),
		})
		return maskOf(absent)
	}
	return maskOf(vs)
}

// portCause tells how to bind low ports without cap_net_bind_service.
func (r Report) portCause() Cause {
	n := r.UnprivilegedPortStart
	if n < 1024 {
		return Cause{
			Message: fmt.Sprintf("this network namespace lets every process bind ports from %d up (net.ipv4.ip_unprivileged_port_start=%d)", n, n),
			Fix:     fmt.Sprintf("a program that listens on port %d or above does not need cap_net_bind_service here: stop asking for it", n),
		}
	}
	return Cause{
		Message: fmt.Sprintf("cap_net_bind_service is only needed for ports below %d (net.ipv4.ip_unprivileged_port_start=%d in this network namespace)", n, n),
		Fix: "do without it: listen on a high port and publish it as the low one (docker run -p 80:8080, Kubernetes Service targetPort), " +
			"or lower the per-namespace sysctl (docker/podman run --sysctl net.ipv4.ip_unprivileged_port_start=80; Kubernetes " +
			"pod securityContext.sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: \"80\"}])",
	}
}

// missing returns the values of wanted, without duplicates, that are not in
// the permitted set.
func (r Report) missing(wanted []cap.Value) []cap.Value {
	var out []cap.Value
	seen := map[cap.Value]bool{}
	for _, v := range wanted {
		if !seen[v] && !r.Permitted.Has(int(v)) {
			out = append(out, v)
		}
		seen[v] = true
	}
	return out
}

func (r Report) exeName() string {
	if r.Executable == "" {
		return "the binary"
	}
	return r.Executable
}

// grantFix is the runtime configuration that grants vs.
func grantFix(vs []cap.Value) string {
	return fmt.Sprintf("grant %s to the container: docker run / podman run %s; Kubernetes: securityContext.capabilities.add: [%s] "+
		"(next to drop: [\"ALL\"])", itThem(vs), capAddFlags(vs), quotedDockerNames(vs))
}

// quotedDockerNames is "\"X\", \"Y\"", as in a YAML list.
func quotedDockerNames(vs []cap.Value) string {
	var quoted []string
	for _, v := range vs {
		quoted = append(quoted, fmt.Sprintf("%q", caps.DockerName(int(v))))
	}
	return strings.Join(quoted, ", ")
}

// capAddFlags is "--cap-add X --cap-add Y".
func capAddFlags(vs []cap.Value) string {
	var flags []string
	for _, v := range vs {
		flags = append(flags, "--cap-add "+caps.DockerName(int(v)))
	}
	return strings.Join(flags, " ")
}

func joinValues(vs []cap.Value, sep string) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = caps.Name(int(v))
	}
	return strings.Join(s, sep)
}

func names(vs []cap.Value) string { return joinValues(vs, ", ") }

func isAre(vs []cap.Value) string {
	if len(vs) == 1 {
		return "is"
	}
	return "are"
}

func itThem(vs []cap.Value) string {
	if len(vs) == 1 {
		return "it"
	}
	return "them"
}

func itThemWas(vs []cap.Value) string {
	if len(vs) == 1 {
		return "it was"
	}
	return "they were"
}
