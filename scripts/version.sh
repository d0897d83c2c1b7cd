#!/usr/bin/env bash
# One version for every artifact. The source is the workspace version in Cargo.toml
# ([workspace.package] version); everything else follows it:
#   Rust crates          version.workspace = true (and the workspace's own path dependencies)
#   Python wheel         pyproject `dynamic = ["version"]`: maturin reads the bindings crate's
#   npm package          wasm/npm/package.json and package-lock.json (and the example's lock entry)
#   Kotlin jar           kotlin/pom.xml <version>
#
#   scripts/version.sh            print the version
#   scripts/version.sh check      exit 1, naming each file, when an artifact disagrees
#   scripts/version.sh set X.Y.Z  write X.Y.Z everywhere (then Cargo.lock: cargo update -w)
set -euo pipefail
cd "$(dirname "$0")/.."

workspace_version() {
    awk '/^\[workspace.package\]/ { in_section = 1; next }
         /^\[/ { in_section = 0 }
         in_section && /^version *=/ { gsub(/^version *= *"|".*$/, ""); print; exit }' Cargo.toml
}

# Each artifact's version, one "file<TAB>version" line per place that states one.
stated_versions() {
    printf 'Cargo.toml [workspace.dependencies] didcomm-edge\t%s\n' \
        "$(sed -n 's/^didcomm-edge = {.*version = "\([^"]*\)".*/\1/p' Cargo.toml)"
    printf 'Cargo.toml [workspace.dependencies] didcomm-edge-web\t%s\n' \
        "$(sed -n 's/^didcomm-edge-web = {.*version = "\([^"]*\)".*/\1/p' Cargo.toml)"
    node -e '
        const fs = require("fs");
        const read = (f) => JSON.parse(fs.readFileSync(f, "utf8"));
        const pkg = read("wasm/npm/package.json");
        const lock = read("wasm/npm/package-lock.json");
        const example = read("examples/node-gateway/package-lock.json");
        const out = [
          ["wasm/npm/package.json", pkg.version],
          ["wasm/npm/package-lock.json", lock.version],
          ["wasm/npm/package-lock.json packages[\"\"]", lock.packages[""].version],
          ["examples/node-gateway/package-lock.json (../../wasm/npm)", example.packages["../../wasm/npm"].version],
        ];
        for (const [f, v] of out) console.log(`${f}\t${v}`);'
    # The project's own <version>: the first one after its <artifactId>.
    printf 'kotlin/pom.xml\t%s\n' "$(awk '/<artifactId>didcomm-edge<\/artifactId>/ { found = 1; next }
        found && /<version>/ { gsub(/.*<version>|<\/version>.*/, ""); print; exit }' kotlin/pom.xml)"
    # maturin takes the version from Cargo: pyproject must not state one.
    if grep -Eq '^version *=' python/pyproject.toml || ! grep -Eq '^dynamic = \["version"\]' python/pyproject.toml; then
        printf 'python/pyproject.toml (must be dynamic = ["version"], no version =)\tstatic\n'
    fi
    # Every workspace crate inherits the workspace version, and Cargo.lock records it.
    local manifest name
    for manifest in $(sed -n 's/^members = \[\(.*\)\]/\1/p' Cargo.toml | tr -d '",'); do
        grep -q '^version.workspace = true' "$manifest/Cargo.toml" \
            || printf '%s/Cargo.toml (must be version.workspace = true)\t%s\n' "$manifest" \
                "$(sed -n 's/^version = "\(.*\)"/\1/p' "$manifest/Cargo.toml")"
        name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest/Cargo.toml" | head -n 1)
        printf 'Cargo.lock (%s)\t%s\n' "$name" "$(awk -v n="$name" '$0 == "name = \"" n "\"" {
            getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
    done
}

check() {
    local want bad=0 file version
    want=$(workspace_version)
    [ -n "$want" ] || { echo "version.sh: no version in Cargo.toml [workspace.package]" >&2; exit 1; }
    while IFS=$'\t' read -r file version; do
        if [ "$version" != "$want" ]; then
            echo "version.sh: $file says ${version:-nothing}, Cargo.toml [workspace.package] says $want" >&2
            bad=1
        fi
    done < <(stated_versions)
    [ "$bad" = 0 ] || { echo "version.sh: run scripts/version.sh set $want" >&2; exit 1; }
    echo "version $want: Cargo.toml, crates, wheel, npm package and Kotlin jar agree"
}

set_version() {
    local new="$1"
    [[ "$new" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] \
        || { echo "version.sh: not a version: $new (X.Y.Z or X.Y.Z-pre)" >&2; exit 2; }
    awk -v v="$new" '/^\[workspace.package\]/ { in_section = 1 }
        /^\[/ && !/^\[workspace.package\]/ { in_section = 0 }
        in_section && /^version *=/ { $0 = "version = \"" v "\"" } { print }' Cargo.toml > Cargo.toml.tmp
    sed -i -E "s/^(didcomm-edge(-web)? = \{.*version = \")[^\"]*(\".*)/\1$new\3/" Cargo.toml.tmp
    mv Cargo.toml.tmp Cargo.toml
    V="$new" node -e '
        const fs = require("fs");
        const edit = (f, change) => {
          const json = JSON.parse(fs.readFileSync(f, "utf8"));
          change(json);
          fs.writeFileSync(f, JSON.stringify(json, null, 2) + "\n");
        };
        const v = process.env.V;
        edit("wasm/npm/package.json", (p) => { p.version = v; });
        edit("wasm/npm/package-lock.json", (l) => { l.version = v; l.packages[""].version = v; });
        edit("examples/node-gateway/package-lock.json", (l) => { l.packages["../../wasm/npm"].version = v; });'
    awk -v v="$new" '/<artifactId>didcomm-edge<\/artifactId>/ { found = 1 }
        found == 1 && /<version>/ { sub(/<version>[^<]*<\/version>/, "<version>" v "</version>"); found = 2 }
        { print }' kotlin/pom.xml > kotlin/pom.xml.tmp && mv kotlin/pom.xml.tmp kotlin/pom.xml
    # The lock file records each workspace crate's version.
    "${CARGO:-cargo}" update --workspace --offline -q 2>/dev/null || "${CARGO:-cargo}" update --workspace -q
    check
}

case "${1:-}" in
"") workspace_version ;;
check) check ;;
set) [ $# -eq 2 ] || { echo "usage: $0 set X.Y.Z" >&2; exit 2; }; set_version "$2" ;;
*) echo "usage: $0 [check | set X.Y.Z]" >&2; exit 2 ;;
esac
