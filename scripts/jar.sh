#!/usr/bin/env bash
# The JVM jar with its native library inside, in JNA's resource layout, so that a project that
# depends on the jar needs no -Djna.library.path:
#   linux-x86-64/libdidcomm_edge_ffi.so    (release, this machine)
#   linux-aarch64/libdidcomm_edge_ffi.so   (release, cross-built: scripts/cross.sh)
#
#   scripts/jar.sh build   the two libraries (stripped) into kotlin/target/native/, then
#                          mvn package: kotlin/target/didcomm-edge-V.jar and -sources.jar
#   scripts/jar.sh test    build, check what the jar holds, then a fresh Maven project in a
#                          temporary folder that depends only on the jar (installed into a
#                          temporary repository with install:install-file) runs the edge flow:
#                          identities, authcrypt pack/unpack, a trust ping, a routed forward;
#                          and scripts/android-aar.sh's 16 KB alignment check on both libraries
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
VERSION=$(./scripts/version.sh)
LIB=libdidcomm_edge_ffi.so
NATIVE=kotlin/target/native
JAR="kotlin/target/didcomm-edge-$VERSION.jar"
SOURCES_JAR="kotlin/target/didcomm-edge-$VERSION-sources.jar"

build() {
    ./scripts/cross.sh setup
    ./scripts/setup.sh maven
    "$CARGO" build --release --locked -p didcomm-edge-ffi --lib
    ./scripts/cross.sh build-ffi
    rm -rf "$NATIVE"
    mkdir -p "$NATIVE/linux-x86-64" "$NATIVE/linux-aarch64"
    # Symbols only the linker needed go; the exported (dynamic) ones JNA looks up stay.
    strip --strip-unneeded -o "$NATIVE/linux-x86-64/$LIB" "target/release/$LIB"
    aarch64-linux-gnu-strip --strip-unneeded -o "$NATIVE/linux-aarch64/$LIB" \
        "target/aarch64-unknown-linux-gnu/release/$LIB"
    (cd kotlin && mvn -B -q -DskipTests package)
}

# The machine of an ELF file, as readelf names it.
machine() { readelf -h "$1" | sed -n 's/^ *Machine: *//p'; }

check_jar() {
    local listing work
    listing=$(unzip -Z1 "$JAR")
    for entry in "linux-x86-64/$LIB" "linux-aarch64/$LIB" META-INF/LICENSE META-INF/NOTICE \
        io/github/didcommedge/DidComm.class; do
        grep -qx "$entry" <<<"$listing" || { echo "$JAR: $entry is missing" >&2; exit 1; }
    done
    unzip -Z1 "$SOURCES_JAR" | grep -qx io/github/didcommedge/didcomm_edge.kt \
        || { echo "$SOURCES_JAR: didcomm_edge.kt is missing" >&2; exit 1; }
    work=$(mktemp -d)
    unzip -q -d "$work" "$JAR" "linux-x86-64/$LIB" "linux-aarch64/$LIB"
    [ "$(machine "$work/linux-x86-64/$LIB")" = "Advanced Micro Devices X86-64" ] \
        || { echo "linux-x86-64/$LIB is not an x86-64 library" >&2; exit 1; }
    [ "$(machine "$work/linux-aarch64/$LIB")" = AArch64 ] \
        || { echo "linux-aarch64/$LIB is not an aarch64 library" >&2; exit 1; }
    # The aarch64 library cannot be loaded here (no aarch64 JVM): at least it exports every
    # function the x86-64 one does (the Kotlin code looks each one up by name).
    local x86 arm
    x86=$(readelf --dyn-syms --wide "$work/linux-x86-64/$LIB" | awk '$7 != "UND" && / uniffi_/ {print $8}' | sort)
    arm=$(readelf --dyn-syms --wide "$work/linux-aarch64/$LIB" | awk '$7 != "UND" && / uniffi_/ {print $8}' | sort)
    [ -n "$x86" ] && [ "$x86" = "$arm" ] \
        || { echo "the two libraries do not export the same UniFFI functions" >&2; exit 1; }
    printf '  %s: %d bytes (x86-64 library %d, aarch64 %d, %d UniFFI functions each)\n' "$JAR" \
        "$(stat -c %s "$JAR")" "$(stat -c %s "$work/linux-x86-64/$LIB")" \
        "$(stat -c %s "$work/linux-aarch64/$LIB")" "$(wc -l <<<"$x86")"
    rm -rf "$work"
}

# A new project that knows nothing of this repository but the jar's coordinates.
consumer() {
    local work="$1" repo="$1/repo" app="$1/app"
    local group=io.github.didcomm-edge artifact=didcomm-edge
    # Into a repository of its own (file://), with the pom, so that JNA, kotlin-stdlib and the
    # coroutines come as the jar's declared dependencies.
    mvn -B -q install:install-file -Dfile="$JAR" -Dsources="$SOURCES_JAR" \
        -DpomFile=kotlin/pom.xml -DlocalRepositoryPath="$repo"
    # Maven would take a copy cached by an earlier run from ~/.m2 instead of the new jar:
    # drop that one version of this project's own artifact from the cache
    # (MAVEN_LOCAL_REPOSITORY=path when settings.xml moves it).
    local m2="${MAVEN_LOCAL_REPOSITORY:-$HOME/.m2/repository}"
    rm -rf "${m2:?}/io/github/didcomm-edge/$artifact/$VERSION"
    mkdir -p "$app/src/test/kotlin"
    local kotlin_version junit_version
    kotlin_version=$(sed -n 's:.*<kotlin.version>\(.*\)</kotlin.version>.*:\1:p' kotlin/pom.xml)
    junit_version=$(sed -n 's:.*<junit.version>\(.*\)</junit.version>.*:\1:p' kotlin/pom.xml)
    cat > "$app/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>example</groupId>
  <artifactId>consumer</artifactId>
  <version>1</version>
  <properties>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
    <kotlin.compiler.jvmTarget>17</kotlin.compiler.jvmTarget>
  </properties>
  <repositories>
    <repository><id>didcomm-edge-under-test</id><url>file://$repo</url></repository>
  </repositories>
  <dependencies>
    <dependency><groupId>$group</groupId><artifactId>$artifact</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.jetbrains.kotlin</groupId><artifactId>kotlin-test-junit5</artifactId><version>$kotlin_version</version><scope>test</scope></dependency>
    <dependency><groupId>org.junit.jupiter</groupId><artifactId>junit-jupiter</artifactId><version>$junit_version</version><scope>test</scope></dependency>
  </dependencies>
  <build>
    <testSourceDirectory>src/test/kotlin</testSourceDirectory>
    <plugins>
      <plugin>
        <groupId>org.jetbrains.kotlin</groupId><artifactId>kotlin-maven-plugin</artifactId><version>$kotlin_version</version>
        <executions><execution><id>test-compile</id><goals><goal>test-compile</goal></goals></execution></executions>
      </plugin>
      <!-- No argLine, no jna.library.path: JNA takes the library from the jar. -->
      <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-surefire-plugin</artifactId><version>3.5.3</version></plugin>
    </plugins>
  </build>
</project>
EOF
    cat > "$app/src/test/kotlin/EdgeFlowTest.kt" <<'EOF'
import io.github.didcommedge.*
import kotlinx.coroutines.runBlocking
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

class EdgeFlowTest {
    @Test fun `the jar alone - identities, authcrypt, a trust ping, a routed forward`() = runBlocking {
        assertNull(System.getProperty("jna.library.path"), "the library must come from the jar")
        val mediator = generateIdentity(IdentityMethod.PEER2, DidCommService(uri = "https://mediator.example/didcomm"))
        val alice = generateIdentity(IdentityMethod.PEER2)
        val bob = generateIdentity(IdentityMethod.PEER2, DidCommService(uri = mediator.did))
        val sender = Wallet().apply { addIdentity(alice); addDocument(bob.document); addDocument(mediator.document) }.didComm()
        val receiver = Wallet().apply { addIdentity(bob); addDocument(alice.document); addDocument(mediator.document) }.didComm()

        val msg = basicMessage(BasicMessage("hello from a Maven consumer"), """{"from":"${alice.did}","to":["${bob.did}"]}""")
        val packed = sender.packEncrypted(msg, bob.did, PackEncryptedOptions(from = alice.did))
        val received = receiver.unpack(packed.packed)
        assertTrue(received.metadata.authenticated && received.metadata.encrypted)
        assertEquals("hello from a Maven consumer", parseBasicMessage(received.message).content)

        val ping = trustPing(true, """{"from":"${alice.did}","to":["${bob.did}"]}""")
        assertNotNull(trustPingResponse(ping))

        val routed = sender.route(packed.packed, bob.did)
        assertEquals("https://mediator.example/didcomm", routed.uri)
        assertEquals(listOf(mediator.did), routed.hops)
        val atMediator = Wallet().apply { addIdentity(mediator) }.didComm()
        val opened = atMediator.unwrapForward(routed.message)
        assertEquals(bob.did, opened.forward.next)
        assertTrue(receiver.unpack(opened.forward.messages.single()).metadata.authenticated)
    }
}
EOF
    # A clean environment: nothing that could point JNA at the build tree.
    (cd "$app" && env -u LD_LIBRARY_PATH -u JAVA_TOOL_OPTIONS -u MAVEN_OPTS mvn -B -q test)
    local cached
    cached="$m2/io/github/didcomm-edge/$artifact/$VERSION/$artifact-$VERSION.jar"
    cmp -s "$cached" "$JAR" || { echo "the consumer did not use the jar just built ($cached)" >&2; exit 1; }
    echo "  a fresh Maven project ran the edge flow on the jar alone (no jna.library.path)"
}

case "${1:-}" in
build) build ;;
test)
    build
    check_jar
    # The Android script's 16 KB page check, on libraries whose alignment is known: aarch64 Linux
    # links with 64 KB pages, x86-64 with 4 KB (which it must refuse).
    ./scripts/android-aar.sh check-align "$NATIVE/linux-aarch64/$LIB"
    if ./scripts/android-aar.sh check-align "$NATIVE/linux-x86-64/$LIB" 2>/dev/null; then
        echo "android-aar.sh check-align accepted a 4 KB-aligned library" >&2; exit 1
    fi
    echo "  16 KB alignment check: accepts the aarch64 library, refuses the x86-64 one"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    consumer "$work"
    ;;
*)
    echo "usage: $0 build|test" >&2; exit 2
    ;;
esac
