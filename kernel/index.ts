export { FeatureExtractor, type Embedding } from './features/feature-extractor';
export { TagsmithError, type ErrorCode } from './errors';
