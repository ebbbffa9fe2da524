"""Module extension of rules_capslayer: the prebuilt `capslayer` toolchains.

rules_capslayer's own `MODULE.bazel` uses it and registers what it creates, so
a user's `MODULE.bazel` needs only the `bazel_dep` (and, until the module is on
the Bazel Central Registry, the `archive_override` of the README):

```starlark
# rules_capslayer's MODULE.bazel
capslayer = use_extension("//rules:extensions.bzl", "capslayer")
use_repo(capslayer, "capslayer_toolchains")
register_toolchains("@capslayer_toolchains//:all")   # prebuilt, first
register_toolchains("//rules/source:all")            # built from source
```

A release archive records, in `rules/private/release.bzl`, the integrity of
the five binaries released with it (linux/amd64, linux/arm64, darwin/amd64,
darwin/arm64, windows/amd64). The extension creates a repository per platform
that downloads its binary with that integrity, and `@capslayer_toolchains`,
which declares one toolchain per platform. Nothing is downloaded until a build
needs `capslayer` on an execution platform; then only that platform's binary.
Neither rules_go nor a Go SDK is involved.

The root module may change where the binaries come from, e.g. an internal
mirror (the integrity still has to match):

```starlark
capslayer = use_extension("@rules_capslayer//rules:extensions.bzl", "capslayer")
capslayer.toolchains(urls = ["https://mirror.example.com/rules_capslayer/v{version}/{file}"])
```

or, from a git checkout of rules_capslayer (which has no release record),
name a release and the integrity of its binaries (from its `SHA256SUMS` or
release notes) to use prebuilt binaries anyway:

```starlark
capslayer.toolchains(
    version = "0.1.0",
    integrity = {"linux_amd64": "sha256-...", "darwin_arm64": "sha256-..."},
)
```

Without a release record and without `integrity`, `@capslayer_toolchains` is
empty and the source toolchains (`@rules_capslayer//rules/source:all`) build
`capslayer` with rules_go.
"""

load("//rules/private:platforms.bzl", "PLATFORMS")
load("//rules/private:release.bzl", "RELEASE_BINARIES", "RELEASE_VERSION")
load("//rules/private:toolchains_repo.bzl", "capslayer_binary_repo", "capslayer_toolchains_repo")

DEFAULT_URL = "https://github.com/capslayer/rules_capslayer/releases/download/v{version}/{file}"

_PREFIX = "capslayer"

_toolchains = tag_class(
    doc = "Where the prebuilt binaries come from. Only the root module's tag counts.",
    attrs = {
        "urls": attr.string_list(
            doc = "URL templates, tried in order; `{version}` is the release version and `{file}` the file " +
                  "name (`capslayer-linux-amd64`, `capslayer-windows-amd64.exe`, ...). Default: the GitHub " +
                  "release, `" + DEFAULT_URL + "`.",
        ),
        "version": attr.string(
            doc = "The release whose binaries to use, with `integrity`. Default: the release this module " +
                  "archive is (none for a git checkout).",
        ),
        "integrity": attr.string_dict(
            doc = "Platform (`linux_amd64`, `linux_arm64`, `darwin_amd64`, `darwin_arm64`, `windows_amd64`) " +
                  "to the `sha256-<base64>` integrity of its binary in release `version`. Replaces the release " +
                  "record of the archive.",
        ),
    },
)

def _file_name(platform):
    goos, goarch = platform.split("_")
    return "capslayer-%s-%s%s" % (goos, goarch, ".exe" if goos == "windows" else "")

def _capslayer_impl(mctx):
    version = RELEASE_VERSION
    binaries = {p: b.integrity for p, b in RELEASE_BINARIES.items()}
    urls = [DEFAULT_URL]
    for mod in mctx.modules:
        if not mod.is_root:
            continue
        for tag in mod.tags.toolchains:
            if tag.urls:
                urls = tag.urls
            if tag.integrity or tag.version:
                if not (tag.integrity and tag.version):
                    fail("capslayer.toolchains: give 'version' and 'integrity' together (the integrity of that release's binaries)")
                version = tag.version
                binaries = dict(tag.integrity)
    for platform in binaries:
        if platform not in PLATFORMS:
            fail("capslayer.toolchains: unknown platform '%s' in 'integrity'; known: %s" % (platform, ", ".join(sorted(PLATFORMS.keys()))))

    for platform in sorted(binaries.keys()):
        capslayer_binary_repo(
            name = "%s_%s" % (_PREFIX, platform),
            platform = platform,
            urls = [u.format(version = version, file = _file_name(platform)) for u in urls],
            integrity = binaries[platform],
        )
    capslayer_toolchains_repo(
        name = _PREFIX + "_toolchains",
        platforms = sorted(binaries.keys()),
        prefix = _PREFIX,
        comment = ("prebuilt capslayer %s from %s" % (version, urls[0])) if binaries else "no prebuilt capslayer: this rules_capslayer is not a release archive; the source toolchains serve",
    )
    return mctx.extension_metadata(reproducible = True)

capslayer = module_extension(
    implementation = _capslayer_impl,
    doc = "Creates `@capslayer_toolchains`, the prebuilt capslayer toolchains. See the file's docs.",
    tag_classes = {"toolchains": _toolchains},
)
