// The package's entry for notebooks and scripts: `import { Tagsmith } from "tagsmith"`.
export * from './notebook/tagsmith';
export { TagsmithClient, TrainingTask } from './client/tagsmith-client';
export { writeDemoImages } from './notebook/demo-images';
