"""The one provider of package_metadata that rules_go reads.

rules_go only checks `PackageMetadataInfo in target` and reads `.metadata`.
"""

PackageMetadataInfo = provider(
    doc = "Metadata about a package (offline stand-in: never populated).",
    fields = {
        "files_to_build": "Files that make up the metadata.",
        "metadata": "The metadata itself.",
    },
)
