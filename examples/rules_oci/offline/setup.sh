#!/usr/bin/env bash
# examples/rules_oci/offline/setup.sh: prepares this workspace for an offline
# Bazel (tools/bazel's Debian chroot, no Bazel Central Registry).
#
# Online, nothing here is needed: MODULE.bazel resolves rules_oci, tar.bzl,
# rules_pkg and bazel_features from the BCR, and their toolchains download
# their binaries. Offline, this script writes .offline/bazelrc (git-ignored)
# and, inside the offline chroot, a state folder (/var/cache/rules_capslayer/
# rules_oci_example/<workspace hash>; out of the source tree, so that
# buildifier and gazelle never see third-party files) with
#   modules/   rules_oci 2.3.2, tar.bzl 0.7.0, rules_pkg 1.2.0 and
#              bazel_features 1.50.0, extracted unchanged from their source
#              archives (sha256-pinned below); a `gawk` module that runs
#              Debian's gawk (the BCR one builds GNU awk from source); and
#              Debian's aspect_bazel_lib with a `jq` rule (see step 4);
#   repos/     stand-ins for the repositories that toolchains download:
#              regctl and crane built from the Go module proxy (the versions
#              rules_oci 2.3.2 pins), Debian's jq, zstd and bsdtar
#              (libarchive-tools); and bazel_features' view of the Bazel
#              version (step 5);
# .offline/bazelrc has the --override_module / --override_repository lines;
# .bazelrc try-imports it. Delete .offline/ to build online again.
# bazel_lib is Debian's bazel-lib package as it is: its coreutils and zstd
# toolchains already run the chroot's rust-coreutils and zstd.
#
# Usage: offline/setup.sh [THIRD_PARTY_DIR]
#   THIRD_PARTY_DIR (or $CAPSLAYER_THIRD_PARTY) holds the four archives;
#   default: the first of ../shared/third_party and ../../shared/third_party
#   beside the repository root that exists.
# The archives are checked on the host and copied to .offline/archives; the
# rest runs in the offline chroot (through tools/bazel), which has Go, jq, zstd, bsdtar and
# Debian's Bazel modules. Measured here: 45 s the first time (Go builds of
# regctl and crane), 3 s afterwards.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
out=$here/.offline

die() {
  echo "offline/setup.sh: error: $*" >&2
  exit 1
}

# ---------------------------------------------------------------------------
# Host phase: the rule set archives.

# name version archive sha256 (the third_party README's list)
readonly ARCHIVES=(
  "rules_oci 2.3.2 rules_oci-2.3.2.tar.gz d7328b554252512c9786bd6774382bb9557efeb734ba2bb0399170a4867504fd"
  "tar.bzl 0.7.0 tar.bzl-0.7.0.tar.gz 686892fc776d9361b1c9b02eb7ea00e24e2df349735910a8901da07f10715392"
  "bazel_features 1.50.0 bazel_features-1.50.0.tar.gz 7dd581a53000fcd0ba4683c1b2b3a115995f115d60f029ba2683e1bf329211cc"
  "rules_pkg 1.2.0 rules_pkg-1.2.0.tar.gz 464bc7bfc10a0d60ad5a1ddd51d405cfc311086f48fd9b60c382643582df6c7f"
)

host_phase() {
  local third_party=${1:-${CAPSLAYER_THIRD_PARTY:-}} d entry name version archive sum dest got
  if [[ -z $third_party ]]; then
    for d in "$repo/../shared/third_party" "$repo/../../shared/third_party"; do
      if [[ -d $d ]]; then
        third_party=$d
        break
      fi
    done
  fi
  [[ -n $third_party && -d $third_party ]] ||
    die "no directory with the archives rules_oci-2.3.2.tar.gz, tar.bzl-0.7.0.tar.gz, bazel_features-1.50.0.tar.gz and rules_pkg-1.2.0.tar.gz: pass it as the first argument or in CAPSLAYER_THIRD_PARTY (online, with the Bazel Central Registry, this script is not needed)"
  mkdir -p "$out/archives"
  for entry in "${ARCHIVES[@]}"; do
    read -r name version archive sum <<<"$entry"
    dest=$out/archives/$archive
    if [[ -f $dest && $(sha256sum <"$dest" | cut -d' ' -f1) == "$sum" ]]; then
      continue
    fi
    [[ -f $third_party/$archive ]] || die "$third_party/$archive ($name $version) is missing"
    got=$(sha256sum <"$third_party/$archive" | cut -d' ' -f1)
    [[ $got == "$sum" ]] || die "$third_party/$archive has sha256 $got, want $sum ($name $version)"
    cp "$third_party/$archive" "$dest.tmp"
    mv "$dest.tmp" "$dest"
  done
}

# ---------------------------------------------------------------------------
# Chroot phase.

# The binaries rules_oci 2.3.2 downloads (oci/private/versions.bzl and
# oci/repositories.bzl: crane v0.18.0, regctl v0.8.0), from source.
readonly GO_TOOLS=(
  "regctl github.com/regclient/regclient/cmd/regctl@v0.8.0"
  "crane github.com/google/go-containerregistry/cmd/crane@v0.18.0"
)
# Where Debian's bazel-lib and bazel-aspect-bazel-lib put their modules
# (dpkg -L bazel-lib bazel-aspect-bazel-lib).
readonly DEBIAN_BAZEL_LIB=/usr/share/bazel/tools/bazel_lib
readonly DEBIAN_ASPECT_BAZEL_LIB=/usr/share/bazel/tools/aspect_bazel_lib

# repo_dir NAME prints the directory of a fresh stand-in repository.
repo_dir() {
  local d=$state/repos/$1
  rm -rf "$d"
  mkdir -p "$d"
  : >"$d/REPO.bazel"
  printf '%s\n' "$d"
}

chroot_phase() {
  local entry tool pkg stamp plat d name version archive sum
  state=/var/cache/rules_capslayer/rules_oci_example/$(printf '%s' "$here" | sha256sum | cut -c1-12)
  for d in "$DEBIAN_BAZEL_LIB" "$DEBIAN_ASPECT_BAZEL_LIB" /usr/bin/jq /usr/bin/zstd /usr/bin/bsdtar /usr/bin/gawk /usr/bin/go; do
    [[ -e $d ]] || die "$d is missing from the offline environment (tools/offline/packages/e2e.txt: bazel-lib, bazel-aspect-bazel-lib, jq, zstd, libarchive-tools, gawk, golang-go; tools/bazel installs that tier for \`test\` and the shell)"
  done
  case $(uname -m) in
    x86_64) plat=linux_amd64 ;;
    aarch64) plat=linux_arm64 ;;
    *) die "unsupported machine $(uname -m) (linux amd64 and arm64 only)" ;;
  esac
  mkdir -p "$state/modules" "$state/repos" "$state/bin"

  # 0. The rule sets, unchanged (once per archive).
  for entry in "${ARCHIVES[@]}"; do
    read -r name version archive sum <<<"$entry"
    d=$state/modules/$name
    [[ -f $d/.sha256 && $(<"$d/.sha256") == "$sum" ]] && continue
    rm -rf "$d.tmp" "$d"
    mkdir -p "$d.tmp"
    tar -xzf "$out/archives/$archive" -C "$d.tmp" --strip-components=1 --no-same-owner
    printf '%s\n' "$sum" >"$d.tmp/.sha256"
    mv "$d.tmp" "$d"
  done

  # 1. regctl and crane from the Go module proxy: static and trimmed, so a
  # version gives the same binary on every host (go's checksum database
  # verifies the sources). Built once per version.
  for entry in "${GO_TOOLS[@]}"; do
    read -r tool pkg <<<"$entry"
    stamp=$state/bin/$tool.version
    if [[ -x $state/bin/$tool && -f $stamp && $(<"$stamp") == "$pkg" ]]; then
      continue
    fi
    echo "offline/setup.sh: go install $pkg" >&2
    # The Go caches outlive the state folder: another worktree's setup, or a
    # rerun after `rm -rf`, downloads and compiles nothing again.
    local gopath=${state%/*}/go
    GOPATH=$gopath GOMODCACHE=$gopath/mod GOCACHE=$gopath/cache GOBIN=$state/bin \
      CGO_ENABLED=0 GOFLAGS="-trimpath -modcacherw" GOTOOLCHAIN=local \
      go install -ldflags='-s -w -buildid=' "$pkg"
    printf '%s\n' "$pkg" >"$stamp"
  done

  # 2. gawk: tar.bzl's `tar` runs `@gawk` on its mtree.
  d=$state/modules/gawk
  rm -rf "$d"
  mkdir -p "$d"
  printf '# Offline stand-in for the BCR module gawk (offline/setup.sh).\nmodule(name = "gawk", version = "5.3.2.bcr.1")\n' >"$d/MODULE.bazel"
  printf '# @gawk: the chroot'"'"'s GNU awk.\nexports_files(["gawk"], visibility = ["//visibility:public"])\n' >"$d/BUILD.bazel"
  ln -s /usr/bin/gawk "$d/gawk"

  # 3. Stand-ins for the toolchain repositories that download binaries. Each
  # has the BUILD file of the repository it replaces with the binary swapped.
  # Loads use canonical names, which do not depend on the repository mapping
  # an overridden repository gets.
  d=$(repo_dir regctl)
  cp "$state/bin/regctl" "$d/regctl"
  cat >"$d/BUILD.bazel" <<'B'
load("@@rules_oci~//oci:toolchain.bzl", "regctl_toolchain")
regctl_toolchain(name = "regctl_toolchain", regctl = "regctl", visibility = ["//visibility:public"])
B
  d=$(repo_dir crane)
  cp "$state/bin/crane" "$d/crane"
  cat >"$d/BUILD.bazel" <<'B'
load("@@rules_oci~//oci:toolchain.bzl", "crane_toolchain")
crane_toolchain(name = "crane_toolchain", crane = "crane", version = "v0.18.0", visibility = ["//visibility:public"])
B
  d=$(repo_dir jq)
  ln -s /usr/bin/jq "$d/jq"
  cat >"$d/BUILD.bazel" <<'B'
load("@@aspect_bazel_lib~//lib/private:jq_toolchain.bzl", "jq_toolchain")
exports_files(["jq"])
jq_toolchain(name = "jq_toolchain", bin = "jq", visibility = ["//visibility:public"])
B
  d=$(repo_dir zstd)
  ln -s /usr/bin/zstd "$d/zstd"
  cat >"$d/BUILD.bazel" <<'B'
load("@@aspect_bazel_lib~//lib/private:zstd_toolchain.bzl", "zstd_toolchain")
zstd_toolchain(name = "zstd_toolchain", binary = "zstd", visibility = ["//visibility:public"])
B
  d=$(repo_dir bsdtar)
  ln -s /usr/bin/bsdtar "$d/tar"
  cat >"$d/BUILD.bazel" <<'B'
load("@@tar.bzl~//tar/toolchain:toolchain.bzl", "tar_toolchain")
tar_toolchain(name = "bsdtar_toolchain", binary = "tar", visibility = ["//visibility:public"])
B

  # 4. aspect_bazel_lib: Debian's 2.22.5, which neither registers jq
  # toolchains nor has a jq rule: its lib/jq.bzl sets `jq = None`
  # (upstream re-exports it from the jq.bzl module, which Debian does not
  # package). rules_oci's oci_image macro calls it once, to write
  # <name>.json.sha256 (`jq --raw-output '.manifests[0].digest'` of the
  # index). The copy gets a jq rule that runs the jq toolchain the same way.
  d=$state/modules/aspect_bazel_lib
  rm -rf "$d"
  cp -a "$DEBIAN_ASPECT_BAZEL_LIB" "$d"
  chmod -R u+w "$d"
  # Upstream's MODULE.bazel registers jq toolchains (rules_oci relies on it);
  # Debian's does not.
  cat >>"$d/MODULE.bazel" <<'B'

# Added by offline/setup.sh, as upstream aspect_bazel_lib registers them.
jq_toolchains = use_extension("@aspect_bazel_lib//lib:extensions.bzl", "toolchains")
jq_toolchains.jq()
use_repo(jq_toolchains, "jq_toolchains")

register_toolchains("@jq_toolchains//:all")
B
  cat >"$d/lib/jq.bzl" <<'B'
"""Offline stand-in for the jq rule (offline/setup.sh): `jq ARGS FILTER SRCS > OUT`."""

def _jq_impl(ctx):
    jq = ctx.toolchains["@aspect_bazel_lib//lib:jq_toolchain_type"].jqinfo.bin
    out = ctx.outputs.out
    args = ctx.actions.args()
    args.add(jq)
    args.add(out)
    args.add_all(ctx.attr.jq_args)
    if ctx.file.filter_file:
        args.add("--from-file", ctx.file.filter_file)
    else:
        args.add(ctx.attr.filter)
    args.add_all(ctx.files.srcs)
    ctx.actions.run_shell(
        command = 'jq="$1" out="$2"; shift 2; "$jq" "$@" >"$out"',
        arguments = [args],
        inputs = ctx.files.srcs + ([ctx.file.filter_file] if ctx.file.filter_file else []),
        tools = [jq],
        outputs = [out],
        mnemonic = "Jq",
    )
    return [DefaultInfo(files = depset([out]))]

_jq = rule(
    implementation = _jq_impl,
    attrs = {
        "srcs": attr.label_list(allow_files = True),
        "filter": attr.string(),
        "filter_file": attr.label(allow_single_file = True),
        "jq_args": attr.string_list(),
        "out": attr.output(mandatory = True),
    },
    toolchains = ["@aspect_bazel_lib//lib:jq_toolchain_type"],
)

def jq(name, srcs, filter = None, filter_file = None, args = [], out = None, **kwargs):
    _jq(
        name = name,
        srcs = srcs,
        filter = filter or "",
        filter_file = filter_file,
        jq_args = args,
        out = out or name + ".json",
        **kwargs
    )
B

  # 5. bazel_features writes its view of the running Bazel into two
  # repositories from native.bazel_version, which Debian's Bazel leaves
  # empty: bazel_features then takes it for a development build newer than
  # any release and declares globals Bazel 7 lacks (`macro`, `set`). The
  # stand-ins hold what it writes for the real version (.bazelversion, the
  # version tools/bazel runs).
  local bazel_version
  bazel_version=$(tr -d '[:space:]' <"$here/.bazelversion")
  d=$(repo_dir bazel_features_version)
  printf 'exports_files(["version.bzl"])\n' >"$d/BUILD.bazel"
  printf "version = '%s'\n" "$bazel_version" >"$d/version.bzl"
  d=$(repo_dir bazel_features_globals)
  printf 'exports_files(["globals.bzl"])\n' >"$d/BUILD.bazel"
  python3 - "$state/modules/bazel_features/private/globals.bzl" "$bazel_version" >"$d/globals.bzl" <<'PY'
# Evaluates bazel_features' GLOBALS table ({name: (introduced_in, removed_in)})
# for one Bazel version, as its private/globals_repo.bzl does.
import ast, re, sys
src = open(sys.argv[1]).read()
table = ast.literal_eval(re.search(r"GLOBALS = (\{.*?\n\})", src, re.S).group(1))
def parse(v):
    if not v:
        return ((float("inf"),), 1, ())
    m = re.match(r"^([0-9.]+)(?:-(.*))?$", v)
    pre = m.group(2) or ""
    return (tuple(int(x) for x in m.group(1).split(".")), 0 if pre else 1, tuple(pre.split(".")) if pre else ())
have = parse(sys.argv[2])
print("globals = struct(")
for name, (lo, hi) in table.items():
    ok = (not lo or have >= parse(lo)) and (not hi or have < parse(hi))
    print("    %s = getattr(getattr(native, 'legacy_globals', None), '%s', %s)," % (name, name, name if ok else "None"))
print(")")
PY

  # 6. The flags. A later --override_module wins over an earlier one, so
  # these also replace the chroot's Debian bazel_features 1.11.0 (tar.bzl
  # needs >= 1.34) and rules_pkg 0.9.1.
  local m=$state/modules r=$state/repos
  cat >"$out/bazelrc.tmp" <<RC
# Written by offline/setup.sh; try-imported by .bazelrc. Delete .offline/ to
# build online.
common --override_module=rules_oci=$m/rules_oci
common --override_module=tar.bzl=$m/tar.bzl
common --override_module=rules_pkg=$m/rules_pkg
common --override_module=bazel_features=$m/bazel_features
common --override_module=gawk=$m/gawk
common --override_module=aspect_bazel_lib=$m/aspect_bazel_lib
common --override_module=bazel_lib=$DEBIAN_BAZEL_LIB
common --override_repository=rules_oci~~oci~oci_regctl_$plat=$r/regctl
common --override_repository=rules_oci~~oci~oci_crane_$plat=$r/crane
common --override_repository=aspect_bazel_lib~~toolchains~jq_$plat=$r/jq
common --override_repository=aspect_bazel_lib~~toolchains~zstd_$plat=$r/zstd
common --override_repository=tar.bzl~~toolchains~bsd_tar_toolchains_$plat=$r/bsdtar
common --override_repository=bazel_features~~version_extension~bazel_features_version=$r/bazel_features_version
common --override_repository=bazel_features~~version_extension~bazel_features_globals=$r/bazel_features_globals
RC
  mv "$out/bazelrc.tmp" "$out/bazelrc"
  echo "offline/setup.sh: wrote $out/bazelrc" >&2
}

if [[ ${1:-} == --chroot-phase ]]; then
  chroot_phase
elif [[ -f /etc/rules_capslayer-offline ]]; then
  die "run this on the host (it needs the archives, which the chroot does not see)"
else
  host_phase "$@"
  CAPSLAYER_BAZEL_MODE=shell "$repo/tools/bazel" "$here/offline/setup.sh" --chroot-phase
fi
