#!/usr/bin/env bash
# The Swift package's release binary: the XCFramework zipped for SwiftPM, and Package.swift
# pointed at it (url: + checksum:) instead of the local build folder.
#
#   scripts/swift-release.sh build [URL]     macOS with Xcode: swift/build-xcframework.sh (release),
#                                            zip it into dist/DIDCommEdgeFFI-V.xcframework.zip,
#                                            then `fill` with URL (default: this version's GitHub
#                                            release asset). Upload the zip there, commit
#                                            Package.swift in the release commit, tag V.
#   scripts/swift-release.sh fill URL ZIP    write URL and ZIP's checksum into Package.swift (any OS;
#                                            PACKAGE_SWIFT=path edits another copy)
#   scripts/swift-release.sh clear           back to the local XCFramework (after the release tag)
#   scripts/swift-release.sh check           `make test-swift`: on a copy of Package.swift, `fill`
#                                            with a zip, then the URL, the checksum and the syntax
#                                            (PYTHON=venv python with tree-sitter-swift)
#
# SwiftPM's checksum of a binary target is the SHA-256 of the zip (`swift package
# compute-checksum` prints the same hex; used when a Swift toolchain is present).
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGE_SWIFT="${PACKAGE_SWIFT:-Package.swift}"

checksum() {
    if command -v swift >/dev/null 2>&1; then
        swift package compute-checksum "$1"
    else
        sha256sum "$1" | cut -d' ' -f1
    fi
}

# Replace the two release lines; fail unless each was there exactly once.
write() {
    local url="$1" sum="$2" file="$PACKAGE_SWIFT"
    for name in ffiReleaseURL ffiReleaseChecksum; do
        [ "$(grep -c "^let $name = \"[^\"]*\"\$" "$file")" -eq 1 ] \
            || { echo "$file: no single 'let $name = \"...\"' line" >&2; exit 1; }
    done
    case "$url$sum" in *[\"\\\|]*) echo "URL or checksum with a quote, backslash or |" >&2; exit 1 ;; esac
    sed -i.bak -e "s|^let ffiReleaseURL = \"[^\"]*\"\$|let ffiReleaseURL = \"$url\"|" \
        -e "s|^let ffiReleaseChecksum = \"[^\"]*\"\$|let ffiReleaseChecksum = \"$sum\"|" "$file"
    rm -f "$file.bak"
}

case "${1:-}" in
build)
    [ "$(uname -s)" = Darwin ] || { echo "swift-release.sh build needs macOS with Xcode" >&2; exit 1; }
    version=$(./scripts/version.sh)
    url="${2:-https://github.com/didcomm-edge/didcomm-edge/releases/download/$version/DIDCommEdgeFFI-$version.xcframework.zip}"
    swift/build-xcframework.sh
    mkdir -p dist
    zip="dist/DIDCommEdgeFFI-$version.xcframework.zip"
    rm -f "$zip"
    (cd swift/build && ditto -c -k --sequesterRsrc --keepParent DIDCommEdgeFFI.xcframework "../../$zip")
    write "$url" "$(checksum "$zip")"
    echo "$zip: upload it to $url; Package.swift now points there"
    ;;
fill)
    [ $# -eq 3 ] && [ -f "$3" ] || { echo "usage: $0 fill URL ZIP" >&2; exit 2; }
    write "$2" "$(checksum "$3")"
    ;;
clear)
    write "" ""
    ;;
check)
    grep -q '^let ffiReleaseURL = ""$' Package.swift \
        || { echo "Package.swift points at a release binary: scripts/swift-release.sh clear" >&2; exit 1; }
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cp Package.swift "$work/Package.swift"
    printf 'not really an XCFramework\n' > "$work/DIDCommEdgeFFI.xcframework.zip"
    url="https://example.org/releases/0.0.0/DIDCommEdgeFFI.xcframework.zip"
    PACKAGE_SWIFT="$work/Package.swift" "$0" fill "$url" "$work/DIDCommEdgeFFI.xcframework.zip"
    sum=$(sha256sum "$work/DIDCommEdgeFFI.xcframework.zip" | cut -d' ' -f1)
    grep -qx "let ffiReleaseURL = \"$url\"" "$work/Package.swift" \
        && grep -qx "let ffiReleaseChecksum = \"$sum\"" "$work/Package.swift" \
        || { echo "swift-release.sh fill did not write the URL and checksum" >&2; exit 1; }
    "${PYTHON:-python3}" scripts/swift-syntax-check.py "$work/Package.swift" >/dev/null
    PACKAGE_SWIFT="$work/Package.swift" "$0" clear
    cmp -s Package.swift "$work/Package.swift" \
        || { echo "swift-release.sh clear did not restore Package.swift" >&2; exit 1; }
    echo "Package.swift: release url + checksum written and cleared, parses"
    ;;
*)
    echo "usage: $0 build [URL] | fill URL ZIP | clear | check" >&2; exit 2
    ;;
esac
