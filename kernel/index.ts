// What the package exports to Node code: the typed client (for notebooks and scripts) and
// the engine for embedding it in-process.
export { TagsmithClient, TagsmithApiError, TrainingTask } from './client/tagsmith-client';
export type * from './client/tagsmith-client';
export { TagsmithEngine } from './engine/tagsmith-engine';
export { FeatureExtractor, type Embedding } from './features/feature-extractor';
export { TagsmithError, type ErrorCode } from './errors';
