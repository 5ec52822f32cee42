#!/usr/bin/env bash
# Installs code-server 4.99.4 (VS Code 1.99.3, runs on Node 20) into a cached folder without
# its own install script, which downloads ripgrep from GitHub. A second run is a no-op.
# Needs Debian's libkrb5-dev, ripgrep and build tools (see README: npm run test:e2e).
set -euo pipefail
DIR="${CODE_SERVER_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/.cache/code-server}"
VERSION=4.99.4
if [ -f "$DIR/.installed-$VERSION" ]; then
  echo "code-server $VERSION already installed in $DIR"
  exit 0
fi
mkdir -p "$DIR"
npm install --prefix "$DIR" --ignore-scripts --no-audit --no-fund "code-server@$VERSION"
cd "$DIR/node_modules/code-server/lib/vscode"
npm install --omit=dev --ignore-scripts --no-audit --no-fund
mkdir -p node_modules/@vscode/ripgrep/bin
cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
npm_config_yes=true npm rebuild @parcel/watcher kerberos node-pty
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sfn code-linux.sh code-server)
(cd bin/helpers && ln -sfn browser-linux.sh browser.sh)
(cd extensions && npm install --omit=dev --ignore-scripts --no-audit --no-fund)
cd "$DIR" && npm_config_yes=true npm rebuild argon2
touch "$DIR/.installed-$VERSION"
echo "code-server $VERSION installed in $DIR"
