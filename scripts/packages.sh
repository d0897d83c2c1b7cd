#!/usr/bin/env bash
# The published Rust crates as crates.io would take them.
#
#   scripts/packages.sh check   (`make test-packages`, seconds) every published crate has a
#                               description, license, repository, rust-version, a README of its
#                               own, 1-5 valid keywords and known categories; `cargo package
#                               --list` holds Cargo.toml, README.md, LICENSE and NOTICE; and the
#                               crates with no unpublished dependency (didcomm-edge) are packaged
#                               and verified by `cargo package` (built from the .crate alone)
#   scripts/packages.sh msrv    (`make test-msrv`) the declared rust-version builds the core:
#                               rustup toolchain install VER, cargo +VER check -p didcomm-edge
#
# The others (-web, -agent, -cli, -mediator) depend on didcomm-edge at the same version, which is
# not on crates.io yet: `cargo package` cannot verify them before it is published. Publish in
# dependency order (didcomm-edge, -web, -agent, -mediator, -cli), each verified then.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
read -r -a CRATES <<< "${PUBLISHED_CRATES:-didcomm-edge didcomm-edge-web didcomm-edge-agent didcomm-edge-cli didcomm-edge-mediator}"
# Crates whose every dependency is on crates.io: verified in full.
VERIFIED=(didcomm-edge)

metadata_check() {
    "$CARGO" metadata --format-version 1 --no-deps --offline --locked | python3 -c '
import json, re, sys
# The crates.io categories used here, spelled as crates.io lists them (a typo is refused).
KNOWN = {"api-bindings", "asynchronous", "authentication", "command-line-utilities",
         "cryptography", "encoding", "network-programming", "wasm",
         "web-programming::http-client", "web-programming::http-server",
         "web-programming::websocket"}
wanted = set(sys.argv[1:])
problems = []
packages = {p["name"]: p for p in json.load(sys.stdin)["packages"]}
for name in sorted(wanted):
    p = packages.get(name)
    if p is None:
        problems.append(f"{name}: not in the workspace"); continue
    for field in ("description", "license", "repository", "rust_version", "readme"):
        if not p.get(field):
            problems.append(f"{name}: no {field}")
    if p.get("publish") == []:
        problems.append(f"{name}: publish = false")
    keywords = p.get("keywords") or []
    if not 1 <= len(keywords) <= 5:
        problems.append(f"{name}: {len(keywords)} keywords (crates.io takes 1 to 5)")
    for k in keywords:
        if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_-]{0,19}", k):
            problems.append(f"{name}: keyword {k!r} (a letter, then letters, digits, - or _; 20 at most)")
    categories = p.get("categories") or []
    if not 1 <= len(categories) <= 5:
        problems.append(f"{name}: {len(categories)} categories (crates.io takes up to 5)")
    problems += [f"{name}: unknown category {c!r}" for c in categories if c not in KNOWN]
    readme = p.get("readme") or ""
    if readme and not readme.endswith("README.md"):
        problems.append(f"{name}: readme is {readme}, not the crate'\''s own README.md")
for problem in problems:
    print(problem, file=sys.stderr)
sys.exit(1 if problems else 0)
' "${CRATES[@]}"
}

list_check() {
    local crate files f
    for crate in "${CRATES[@]}"; do
        files="$("$CARGO" package --list --offline --allow-dirty -p "$crate")"
        for f in Cargo.toml README.md LICENSE NOTICE; do
            grep -qx "$f" <<<"$files" || { echo "$crate: $f is not in its package" >&2; exit 1; }
        done
    done
}

case "${1:-}" in
check)
    metadata_check
    list_check
    echo "crates: metadata, README.md, LICENSE and NOTICE in ${CRATES[*]}"
    for crate in "${VERIFIED[@]}"; do
        # Built in the workspace's target folder: the dependencies already built there are reused.
        "$CARGO" package --locked --allow-dirty -q -p "$crate"
    done
    echo "cargo package (verified): ${VERIFIED[*]}"
    ;;
msrv)
    msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
    [ -n "$msrv" ] || { echo "no rust-version in Cargo.toml" >&2; exit 1; }
    if ! rustup run "$msrv" rustc --version >/dev/null 2>&1; then
        rustup toolchain install "$msrv" --profile minimal
    fi
    # Every workspace crate's declared rust-version covers what its locked dependencies
    # (normal and build, not dev) declare.
    "$CARGO" metadata --format-version 1 --locked --offline | python3 -c '
import json, sys
m = json.load(sys.stdin)
pkgs = {p["id"]: p for p in m["packages"]}
deps = {n["id"]: [d["pkg"] for d in n["deps"] if any(k["kind"] != "dev" for k in d["dep_kinds"])]
        for n in m["resolve"]["nodes"]}
ver = lambda v: tuple((list(map(int, v.split("."))) + [0, 0])[:3])
problems = 0
for member in m["workspace_members"]:
    declared = pkgs[member].get("rust_version")
    if not declared:
        continue
    seen, stack, need = set(), [member], ((0,), None)
    while stack:
        i = stack.pop()
        for d in deps.get(i, []):
            if d not in seen:
                seen.add(d); stack.append(d)
                rv = pkgs[d].get("rust_version")
                if rv and ver(rv) > need[0]:
                    need = (ver(rv), "%s %s needs %s" % (pkgs[d]["name"], pkgs[d]["version"], rv))
    if need[0] > ver(declared):
        print("%s: rust-version %s, but %s" % (pkgs[member]["name"], declared, need[1]), file=sys.stderr)
        problems += 1
sys.exit(1 if problems else 0)
'
    "$CARGO" +"$msrv" check --locked -p didcomm-edge --target-dir target/msrv
    echo "rust-version $msrv: every crate's locked dependencies allow it; didcomm-edge builds with it"
    ;;
*)
    echo "usage: $0 check|msrv" >&2; exit 2
    ;;
esac
