#!/usr/bin/env bash
# Builds the Kubernetes binaries e2e/kubernetes runs (kube-apiserver, kubelet,
# etcd) from the Go module proxy, and prints the directory that holds them.
#
#   e2e/kubernetes/build.sh          # build once, then print the cached dir
#   e2e/kubernetes/build.sh --dir    # print the dir only, build nothing
#   export CAPSLAYER_KUBE_BIN_DIR=$(e2e/kubernetes/build.sh)   # what the tests read
#
# The versions below are the only place they are named. The binaries are
# cached by version under ${CAPSLAYER_KUBE_CACHE:-${XDG_CACHE_HOME:-~/.cache}/rules_capslayer/kubernetes},
# so a second run only checks they are there. k8s.io/kubernetes cannot be
# `go install`ed: its go.mod replaces each staging module (k8s.io/api,
# k8s.io/apiserver, ...) with a directory of its own repository. A wrapper
# module that requires it and replaces each staging module with its published
# v0.<minor>.<patch> builds it; etcd the same way, with its server module.
set -euo pipefail

KUBERNETES_VERSION=v1.35.4
ETCD_VERSION=v3.6.16

# The staging modules of k8s.io/kubernetes, as its go.mod replaces them.
STAGING=(
  api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
  cloud-provider cluster-bootstrap code-generator component-base
  component-helpers controller-manager cri-api cri-client csi-translation-lib
  dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
  kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
  mount-utils pod-security-admission sample-apiserver sample-cli-plugin
  sample-controller
)
ETCD_MODULES=(api/v3 client/pkg/v3 client/v3 pkg/v3)

cache_root=${CAPSLAYER_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rules_capslayer/kubernetes}
out="$cache_root/kubernetes-$KUBERNETES_VERSION-etcd-$ETCD_VERSION"
bins=(kube-apiserver kubelet etcd)

case ${1:-} in
  "") ;;
  --dir)
    printf '%s\n' "$out"
    exit 0
    ;;
  *)
    echo "usage: $0 [--dir]" >&2
    exit 2
    ;;
esac

have_all() {
  local b
  for b in "${bins[@]}"; do
    [ -x "$out/$b" ] || return 1
  done
}

if have_all; then
  printf '%s\n' "$out"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: go not found on PATH (Go 1.25 or newer builds Kubernetes $KUBERNETES_VERSION)" >&2; exit 1; }

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/kube" "$work/etcd" "$work/bin"

staging_minor="v0.${KUBERNETES_VERSION#v1.}"
{
  printf 'module capslayer.example/kubernetes-build\n\ngo 1.25.0\n\n'
  printf 'require k8s.io/kubernetes %s\n\n' "$KUBERNETES_VERSION"
  for m in "${STAGING[@]}"; do
    printf 'replace k8s.io/%s => k8s.io/%s %s\n' "$m" "$m" "$staging_minor"
  done
} >"$work/kube/go.mod"

{
  printf 'module capslayer.example/etcd-build\n\ngo 1.25.0\n\n'
  printf 'require go.etcd.io/etcd/server/v3 %s\n\n' "$ETCD_VERSION"
  for m in "${ETCD_MODULES[@]}"; do
    printf 'replace go.etcd.io/etcd/%s => go.etcd.io/etcd/%s %s\n' "$m" "$m" "$ETCD_VERSION"
  done
} >"$work/etcd/go.mod"
# etcd's own main package is in the go.etcd.io/etcd/v3 module, which the
# proxy does not serve; this is its main.go.
cat >"$work/etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO

# Static binaries, so that they run on the host and in the Bazel chroot alike.
export CGO_ENABLED=0 GOFLAGS=-mod=mod
ldflags_kube="-s -w \
 -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2) \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION"

echo "build.sh: building etcd $ETCD_VERSION into $out" >&2
(cd "$work/etcd" && go mod tidy && go build -trimpath -ldflags '-s -w' -o "$work/bin/etcd" .)
echo "build.sh: building kube-apiserver and kubelet $KUBERNETES_VERSION" >&2
(cd "$work/kube" && go build -trimpath -ldflags "$ldflags_kube" -o "$work/bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubelet)

# The set appears together or not at all.
rm -rf "$out.tmp"
mv "$work/bin" "$out.tmp"
rm -rf "$out"
mv "$out.tmp" "$out"
have_all
printf '%s\n' "$out"
