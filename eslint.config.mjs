// ESLint: typescript-eslint's recommended rules, and the folder layering of
// docs/architecture.md as import rules, so a wrong import fails `npm test` instead of a review.
import Module from 'node:module';
import path from 'node:path';
import js from '@eslint/js';

// typescript-eslint parses with TypeScript's JavaScript API, which TypeScript 7 (the project's
// type checker, native and much faster) no longer has: its parser gets TypeScript 5.9, installed
// as `typescript-5`, and nothing else sees it.
// (typescript-eslint's own advice for TS 7: run it on an older TypeScript's API side by side.)
const LINT_PACKAGES = ['typescript-eslint', '@typescript-eslint', 'ts-api-utils'].map(
  (name) => `${path.sep}node_modules${path.sep}${name.replace('/', path.sep)}${path.sep}`,
);
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  const fromLinter = request === 'typescript' && LINT_PACKAGES.some((dir) => parent?.filename?.includes(dir));
  return resolveFilename.call(this, fromLinter ? 'typescript-5' : request, parent, ...rest);
};
const { default: tseslint } = await import('typescript-eslint');

const NATIVE_AND_SERVER = ['sharp', 'onnxruntime-node', 'fastify', '@fastify/*', 'tar', 'bullmq', 'ioredis'];

export default tseslint.config(
  { ignores: ['dist/**', 'dist-vsix/**', 'node_modules/**', '.cache/**', 'test-artifacts/**', 'examples/node_modules/**', 'models/*.onnx'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mjs'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      // `cond ? a++ : b++` counts, and `x?.()` calls: expressions used for their effect on purpose.
      '@typescript-eslint/no-unused-expressions': ['error', { allowTernary: true, allowShortCircuit: true }],
    },
  },
  {
    // The notebook kernel loads tslab and its TypeScript lazily, in the kernel process only.
    files: ['kernel/notebook/**/*.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Tests read JSON replies of every shape.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.mjs', '**/*.cjs', '.ci/**/*.js'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        __dirname: 'readonly',
        require: 'readonly',
        module: 'writable',
        Buffer: 'readonly',
        URL: 'readonly',
      },
    },
  },
  // ── the layering (docs/architecture.md) ──────────────────────────────────────────────
  {
    files: ['kernel/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'vscode', message: 'kernel/ runs outside VS Code: it never imports vscode.' }],
          patterns: [{ group: ['**/extension/**', '**/webview/**'], message: 'kernel/ never imports the extension or the webviews.' }],
        },
      ],
    },
  },
  {
    files: ['kernel/ml/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'vscode', message: 'kernel/ml is pure numerics.' }],
          patterns: [
            {
              group: ['../*', '!../threads'],
              message: 'kernel/ml is pure numerics: it imports nothing of the project but its own files (and starting worker threads).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['extension/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: NATIVE_AND_SERVER.filter((p) => !p.includes('*')).map((name) => ({
            name,
            message: "The extension never loads the engine's native or server code: it talks to the engine over HTTP.",
          })),
          patterns: [
            { group: ['@fastify/*'], message: "The extension never loads the engine's server code." },
            {
              regex:
                'kernel/(engine|features|http|scan|cluster|ml|export)/|kernel/scores/(?!keywords-text$)|kernel/state/(?!path-names$)|kernel/training/(?!describe-metrics$)',
              message:
                "The extension uses the engine through kernel/client; of the rest only kernel/rules, kernel/state/path-names, kernel/training/describe-metrics, kernel/scores/keywords-text, kernel/images/image-files, kernel/cli/ready-line and the notebook kernel's messages.",
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    files: ['webview/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: ['vscode', ...NATIVE_AND_SERVER.filter((p) => !p.includes('*'))].map((name) => ({
            name,
            message: 'Webviews are browser code: they talk to their host by messages.',
          })),
          patterns: [
            { group: ['node:*'], message: 'Webviews are browser code: no Node modules.' },
            { group: ['**/extension/**'], message: 'Webviews talk to the extension only through webview/protocol.ts.' },
            {
              regex: 'kernel/(?!(rules|state/path-names|training/describe-metrics|scores/keywords-text)$)',
              message: 'Webviews may import only the browser-safe kernel modules (rules, path-names, describe-metrics, keywords-text), and kernel types.',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
);
