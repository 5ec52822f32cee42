// /openapi.json, generated from the endpoint table so it cannot drift from the routes.
import { DEFAULT_URL } from '../rules';
import { BODY_MEDIA_TYPES, ENDPOINTS, type Endpoint } from './endpoints';

export function openApiDocument(version: string): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const [name, endpoint] of Object.entries(ENDPOINTS) as [string, Endpoint][]) {
    const operations: Record<string, object> = {};
    for (const method of endpoint.methods) {
      operations[method.toLowerCase()] = {
        operationId: endpoint.methods.length > 1 ? `${name}${method[0]}${method.slice(1).toLowerCase()}` : name,
        summary: endpoint.summary,
        // Where writes go is a load balancer's routing rule: say which operations are writes.
        ...(endpoint.writes
          ? { description: 'Changes the state: a read-only replica (tagsmith serve --read-only) answers 403 read_only.', 'x-tagsmith-writes': true }
          : {}),
        parameters: [
          ...[...endpoint.path.matchAll(/\{(\w+)\}/g)].map(([, p]) => ({ name: p, in: 'path', required: true, schema: { type: 'string' } })),
          ...Object.entries(endpoint.query ?? {}).map(([q, description]) => ({
            name: q,
            in: 'query',
            required: false,
            description,
            schema: { type: 'string' },
          })),
        ],
        ...(method === 'POST' && endpoint.body !== 'none' ? { requestBody: requestBody(endpoint) } : {}),
        responses: {
          200: { description: 'OK', content: { [endpoint.produces]: {} } },
          default: { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        },
      };
    }
    // Two entries may share a path (GET /scans lists, POST /scans starts one): merge, never replace.
    paths[endpoint.path] = { ...paths[endpoint.path], ...operations };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Tagsmith engine', version, description: 'Custom image tags trained from a few examples: the "customised training" SDK API.' },
    servers: [{ url: DEFAULT_URL }],
    paths,
    components: {
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
        },
      },
    },
  };
}

function requestBody(endpoint: Endpoint): object {
  if (endpoint.body === 'none') return {};
  const content: Record<string, object> = {};
  for (const type of BODY_MEDIA_TYPES[endpoint.body]) {
    if (type === 'multipart/form-data')
      content[type] = { schema: { type: 'object', required: ['data'], properties: { data: { type: 'string', format: 'binary' } } } };
    else if (type === 'application/json') content[type] = {};
    else content[type] = { schema: { type: 'string', format: 'binary' } };
  }
  return { required: true, content };
}
