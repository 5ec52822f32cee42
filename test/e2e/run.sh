#!/usr/bin/env bash
# npm run test:e2e: package the extension, install code-server (cached), run the scenario.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash test/e2e/install-code-server.sh
npm run package
node --import tsx --test --test-reporter=spec test/e2e/*.e2e.test.ts
