#!/usr/bin/env bash
# Refresh the vendored GraphiQL (server/static/graphiql/) from the npm registry: the pinned releases below,
# their UMD builds, their licences and the licences of every package bundled into them.
# Usage: server/static/refresh_graphiql.sh [graphiql-version]   (needs npm; nothing else is downloaded)
set -euo pipefail

GRAPHIQL_VERSION="${1:-3.9.0}"  # the last GraphiQL with a standalone (UMD) build
REACT_VERSION="18.3.1"          # GraphiQL 3 supports React 16.8 to 18

here="$(cd "$(dirname "$0")" && pwd)"
target="$here/graphiql"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts --save-exact \
  "graphiql@$GRAPHIQL_VERSION" "react@$REACT_VERSION" "react-dom@$REACT_VERSION" >/dev/null

rm -rf "$target" && mkdir -p "$target"
cp node_modules/graphiql/graphiql.min.js node_modules/graphiql/graphiql.min.css "$target/"
cp node_modules/react/umd/react.production.min.js "$target/"
cp node_modules/react-dom/umd/react-dom.production.min.js "$target/"

# Licences: every installed package (GraphiQL's bundle includes its dependencies), with name and version.
node - "$target/LICENSES.txt" <<'JS'
const fs = require("fs"), path = require("path");
const out = [`Licences of the files in this directory: GraphiQL, React, React DOM and the packages npm installs
with them (GraphiQL's standalone build bundles its dependencies; versions are the ones npm resolved when the
files were refreshed by server/static/refresh_graphiql.sh).
`], root = "node_modules";
const dirs = fs.readdirSync(root).flatMap(d => d.startsWith("@") ? fs.readdirSync(path.join(root, d)).map(s => `${d}/${s}`) : [d]);
for (const dir of dirs.filter(d => !d.startsWith(".")).sort()) {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, dir, "package.json"), "utf8"));
  const file = fs.readdirSync(path.join(root, dir)).find(f => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  const text = file ? fs.readFileSync(path.join(root, dir, file), "utf8").trim() : `License: ${pkg.license || "see package"}`;
  out.push(`${"=".repeat(78)}\n${pkg.name}@${pkg.version} (${pkg.license || "?"})\n${"=".repeat(78)}\n${text}\n`);
}
fs.writeFileSync(process.argv[2], out.join("\n"));
JS

cat > "$target/VERSIONS.json" <<JSON
{"graphiql": "$GRAPHIQL_VERSION", "react": "$REACT_VERSION", "react-dom": "$REACT_VERSION"}
JSON
echo "GraphiQL $GRAPHIQL_VERSION and React $REACT_VERSION vendored in $target"
