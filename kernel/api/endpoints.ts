// Every HTTP endpoint of the engine, declared once. The server registers its routes from this
// table, the typed client builds its requests from it, and /openapi.json is generated from it.
export type HttpMethod = 'GET' | 'POST' | 'DELETE';

/** What a request carries: an image (multipart field `data` or a raw image/* body), a tar, JSON, or nothing. */
export type RequestBody = 'image' | 'archive' | 'features' | 'none';

/**
 * The media types a body of each kind may come as. Multipart carries it in the field `data`
 * (as curl -F and Python requests send it); the others are the raw body.
 */
export const BODY_MEDIA_TYPES = {
  image: ['multipart/form-data', 'image/*', 'application/octet-stream'],
  features: ['multipart/form-data', 'application/json', 'application/octet-stream'],
  archive: ['multipart/form-data', 'application/x-tar', 'application/gzip', 'application/x-gzip', 'application/octet-stream'],
} as const satisfies Record<Exclude<RequestBody, 'none'>, readonly string[]>;

export interface Endpoint {
  methods: HttpMethod[];
  /** Path with `{param}` placeholders. */
  path: string;
  summary: string;
  body: RequestBody;
  query?: Record<string, string>;
  /** The media type of a successful reply. */
  produces: 'application/json' | 'application/x-tar' | 'image/webp' | 'application/octet-stream';
}

export const ENDPOINTS = {
  addSample: { methods: ['POST'], path: '/add/{type}/{tag}', body: 'image', produces: 'application/json', summary: 'Add an image as a positive or negative sample of a tag (creates the tag).' },
  train: {
    methods: ['GET', 'POST'], path: '/train/{tag}', body: 'none', produces: 'application/json', summary: 'Start training a tag; returns {"task_id"} at once.',
    query: { num_clusters: 'Number of k-means clusters of the positives (1 by default).', apply_aesthetic_score: 'true/false/1/0: use the aesthetic score as an input.', apply_stock_score: 'true/false/1/0: use the stock score as an input.' },
  },
  status: { methods: ['GET'], path: '/status/{task_id}', body: 'none', produces: 'application/json', summary: 'State, stage, progress and (when done) metrics of a training task.' },
  predict: { methods: ['POST'], path: '/predict', body: 'image', produces: 'application/json', summary: 'Base scores (nsfw, aesthetic, stock) and every custom tag for an image.' },
  predictCustom: { methods: ['POST'], path: '/predict/custom', body: 'image', produces: 'application/json', summary: 'Every custom tag for an image.' },
  predictCustomTag: { methods: ['POST'], path: '/predict/custom/{tag}', body: 'image', produces: 'application/json', summary: 'One custom tag for an image.' },
  getFeatures: { methods: ['POST'], path: '/get_features', body: 'image', produces: 'application/json', summary: 'The feature document of an image, to save and score later without the image.' },
  predictByFeatures: { methods: ['POST'], path: '/predict_by_features', body: 'features', produces: 'application/json', summary: 'Scores a saved feature document (multipart field `data` or a JSON body).' },
  clean: { methods: ['GET', 'POST'], path: '/clean/{tag}', body: 'none', produces: 'application/json', summary: 'Remove a tag: its model and its samples.', query: { keep_samples: 'true/false/1/0: remove only the trained model.' } },
  getState: { methods: ['GET'], path: '/get_state', body: 'none', produces: 'application/x-tar', summary: 'The whole state as a tar archive.' },
  setState: { methods: ['POST'], path: '/set_state', body: 'archive', produces: 'application/json', summary: 'Replace the whole state with an archive from /get_state (tar or tar.gz); a rejected archive changes nothing.' },
  tags: { methods: ['GET'], path: '/tags', body: 'none', produces: 'application/json', summary: 'Every tag with its sample counts, training state and last metrics.' },
  samples: { methods: ['GET'], path: '/tags/{tag}/samples', body: 'none', produces: 'application/json', summary: 'The positive and negative samples of a tag.' },
  removeSample: { methods: ['DELETE'], path: '/tags/{tag}/samples/{sample_id}', body: 'none', produces: 'application/json', summary: 'Remove one sample from a tag.' },
  moveSample: { methods: ['POST'], path: '/tags/{tag}/samples/{sample_id}/move', body: 'none', produces: 'application/json', summary: 'Move a sample to the other side.', query: { to: 'positive or negative' } },
  sampleImage: { methods: ['GET'], path: '/samples/{sample_id}/image', body: 'none', produces: 'application/octet-stream', summary: 'The original image of a sample.' },
  thumbnail: { methods: ['GET'], path: '/samples/{sample_id}/thumbnail', body: 'none', produces: 'image/webp', summary: 'A small WebP of a sample.', query: { size: 'Longest side in pixels (32–1024, default 256).' } },
  tasks: { methods: ['GET'], path: '/tasks', body: 'none', produces: 'application/json', summary: 'Training tasks, oldest first.', query: { tag: 'Only the tasks of this tag.' } },
  cancelTask: { methods: ['POST'], path: '/tasks/{task_id}/cancel', body: 'none', produces: 'application/json', summary: 'Cancel a queued or running task.' },
  health: { methods: ['GET'], path: '/health', body: 'none', produces: 'application/json', summary: 'Version, models, state folder and counts.' },
  openapi: { methods: ['GET'], path: '/openapi.json', body: 'none', produces: 'application/json', summary: 'This API as an OpenAPI 3.1 document.' },
} as const satisfies Record<string, Endpoint>;

export type EndpointName = keyof typeof ENDPOINTS;

/** Fills `{param}` placeholders, each URL-encoded. */
export function endpointPath(path: string, params: Record<string, string> = {}): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(value);
  });
}

/** `/add/{type}/{tag}` → `/add/:type/:tag` (the router's syntax). */
export function routerPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}
