// Package kubernetes proves the project's Kubernetes claims on a real
// one-node cluster, private to the test run: etcd and kube-apiserver on
// 127.0.0.1 (token authentication, AlwaysAllow authorization), and a
// kubelet (cgroupfs driver) on a private containerd with a CNI bridge
// (harness.StartContainerd). There is no scheduler or controller manager:
// pods are created with nodeName set, and each namespace's "default"
// service account is created by the test.
//
// TestAdmissionPolicy installs the ValidatingAdmissionPolicy that
// capslayer/admission generates and creates pods against it (dry runs):
// the API server's own CEL environment and admission chain decide. TestKubelet runs the image with the securityContext `capslayer
// requirements` prints in a namespace enforcing the restricted Pod Security
// Standard, the same pod without the file capability, and the policy of
// `capslayer admission-policy` for that image; its observations make the
// "kubelet + containerd" sections of docs/runtime-matrix.md.
//
// The binaries (kube-apiserver, kubelet, etcd) come from
// e2e/kubernetes/build.sh, named by $CAPSLAYER_KUBE_BIN_DIR. Everything the
// tests start is stopped at the end, API server before etcd, and the tests
// fail if a process, mount, cgroup or network interface is left.
package kubernetes

import (
	"os"
	"testing"

	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
