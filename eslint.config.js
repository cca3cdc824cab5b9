// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Each I/O library has one owning module (house style 4); everything else goes through it. */
const owned = (name, owner) => ({ name, message: `only ${owner} imports ${name}` });

export default tseslint.config(
  { ignores: ['dist/', '.bench-app/', 'lib/', '.generated/', 'node_modules/', 'test-results/', 'playwright-report/', 'data/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', { paths: [owned('idb', 'src/client/store.ts (the person\'s data) or src/worker/backend-memory.ts (the trainer\'s own small database)'), owned('better-sqlite3', 'src/coordinator/sqlite-store.ts')] }],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    ignores: ['src/core/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', '@tensorflow/*', 'idb', 'fastify', 'better-sqlite3'], message: 'core/ is pure: no I/O, no TF.js' }] }],
    },
  },
  {
    files: ['src/app/**/*.ts', 'src/client/**/*.ts', 'src/sdk/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [owned('better-sqlite3', 'src/coordinator/sqlite-store.ts')], patterns: [{ group: ['@tensorflow/*'], message: 'TF.js runs in the trainer worker only, so the page stays small and responsive' }] }],
    },
  },
  { files: ['src/client/store.ts', 'src/worker/backend-memory.ts'], rules: { 'no-restricted-imports': 'off' } },
  { files: ['src/coordinator/sqlite-store.ts', 'src/coordinator/store.test.ts'], rules: { 'no-restricted-imports': 'off' } }, // the migration test writes an old schema itself
);
