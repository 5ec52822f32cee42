// Finds the folder holding models.json: $TAGSMITH_MODELS_DIR, else the package's `models/`,
// found by walking up from this file (which sits at different depths in source and bundle).
import fs from 'node:fs';
import path from 'node:path';
import { MODELS_DIR_ENV } from '../../models/manifest';

export function findModelsDir(): string {
  const fromEnv = process.env[MODELS_DIR_ENV];
  if (fromEnv) return path.resolve(fromEnv);
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'models', 'models.json'))) return path.join(dir, 'models');
    if (path.dirname(dir) === dir) throw new Error(`models/models.json not found above ${__dirname}; set ${MODELS_DIR_ENV}`);
  }
}
