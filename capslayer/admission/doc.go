// Package admission writes a Kubernetes ValidatingAdmissionPolicy (and its
// binding) that admits a pod only with the capabilities its images were
// built to need.
//
// For every container (containers, initContainers, ephemeralContainers)
// whose image is pinned to one of the given manifest digests (the image
// field ends in "@sha256:<digest>"), the policy requires:
//
//   - securityContext.capabilities.drop to contain "ALL";
//   - securityContext.capabilities.add to hold exactly the capabilities the
//     image's files carry, no more and no fewer (compared as Kubernetes and
//     containerd do: case-insensitively, with or without the CAP_ prefix);
//   - securityContext.allowPrivilegeEscalation: false, which containerd
//     measured to keep the file capabilities of =ep and =p files (it puts
//     the added capabilities in the permitted set before exec, and
//     no_new_privs only clamps file capabilities to that set); see
//     docs/runtime-matrix.md. Options.AllowPrivilegeEscalation drops this
//     rule for runtimes where no_new_privs loses them (Docker engine);
//   - runAsNonRoot: true (container or pod level) and no runAsUser 0: file
//     capabilities exist so that the process need not be root;
//   - privileged not true (a privileged container holds every capability).
//
// Containers of every other image may add no capability (and may not be
// privileged) unless Options.OthersMayAdd allows it. A container whose image
// is referenced by tag only counts as another image: admission cannot
// resolve a tag to a digest (it has no registry access, and a tag can be
// moved after admission), so the capabilities that the pinned images need
// are granted only to pinned references.
//
// The expressions use CEL as the API server compiles them for
// ValidatingAdmissionPolicy: object is dynamically typed, absent fields
// are tested with has(), and only the standard macros and the strings
// extension (upperAscii, join) that every Kubernetes version with
// admissionregistration.k8s.io/v1 (1.30 and later) provides.
//
// The Go types below mirror the few fields of the admissionregistration
// v1 API that the policy uses instead of importing k8s.io/api: those types
// bring k8s.io/apimachinery and double the size of the capslayer binary
// (6.9 MB to 13.5 MB measured). The package's tests decode the output
// strictly into the real k8s.io/api types.
package admission
