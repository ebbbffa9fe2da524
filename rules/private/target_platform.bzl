"""The image platform (os/arch[/variant]) of the target platform. Private."""

TargetPlatformInfo = provider(
    doc = "The OCI platform of the configuration a target was built in.",
    fields = {
        "platform": "string: `linux/<arch>[/<variant>]` for the target platform's CPU, or `\"\"` " +
                    "for a CPU that OCI images do not name.",
    },
)

# @platforms//cpu constraint to the OCI architecture[/variant]. Images are
# Linux whatever the host: a macOS arm64 host builds linux/arm64 images.
_CPUS = {
    "aarch64": "arm64",
    "armv7": "arm/v7",
    "i386": "386",
    "ppc64le": "ppc64le",
    "riscv64": "riscv64",
    "s390x": "s390x",
    "x86_32": "386",
    "x86_64": "amd64",
}

def _target_platform_impl(ctx):
    arch = ""
    for cpu in sorted(_CPUS.keys()):
        if ctx.target_platform_has_constraint(getattr(ctx.attr, "_" + cpu)[platform_common.ConstraintValueInfo]):
            arch = _CPUS[cpu]
    return [TargetPlatformInfo(platform = "linux/" + arch if arch else "")]

target_platform = rule(
    implementation = _target_platform_impl,
    doc = "Gives TargetPlatformInfo for the configuration it is built in; built under " +
          "caps_layer's transition, the platform `caps_layer(base = ...)` picks of a multi-platform base.",
    attrs = {
        "_" + cpu: attr.label(default = "@platforms//cpu:" + cpu)
        for cpu in _CPUS.keys()
    },
    provides = [TargetPlatformInfo],
)
