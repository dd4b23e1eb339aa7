import nx from '@nx/eslint-plugin';
import importX from 'eslint-plugin-import-x';

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  {
    ignores: ['**/dist', '**/out-tsc', '**/.data', 'bench/results'],
  },
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.js', '**/*.jsx'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          banTransitiveDependencies: true,
          // Shared build configs outside any project: ESLint's and the apps' webpack factory.
          allow: [
            '^.*/eslint(\\.base)?\\.config\\.[cm]?[jt]s$',
            '^.*/tools/webpack/[^/]+\\.webpack\\.config(\\.js)?$',
          ],
          depConstraints: [
            // Apps are deployables: they may use libraries, never another app.
            {
              sourceTag: 'type:app',
              onlyDependOnLibsWithTags: ['type:feature', 'type:data-access', 'type:util'],
            },
            // End-to-end suites drive their app from outside, over HTTP.
            {
              sourceTag: 'type:e2e',
              onlyDependOnLibsWithTags: ['type:data-access', 'type:util'],
            },
            // Nest modules a service composes (health, start-up checks, session settings).
            {
              sourceTag: 'type:feature',
              onlyDependOnLibsWithTags: ['type:data-access', 'type:util'],
            },
            // Data access never reaches up into the features built on it.
            {
              sourceTag: 'type:data-access',
              onlyDependOnLibsWithTags: ['type:data-access', 'type:util'],
            },
            { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util'] },
            // Shared libraries cannot reach into a service's scope.
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:auth', onlyDependOnLibsWithTags: ['scope:auth', 'scope:shared'] },
            {
              sourceTag: 'scope:orders',
              onlyDependOnLibsWithTags: ['scope:orders', 'scope:shared'],
            },
            {
              sourceTag: 'scope:catalog',
              onlyDependOnLibsWithTags: ['scope:catalog', 'scope:shared'],
            },
            {
              sourceTag: 'scope:gateway',
              onlyDependOnLibsWithTags: ['scope:gateway', 'scope:shared'],
            },
          ],
        },
      ],
    },
  },
  {
    // STYLE: imports in four groups, in this order: Node's own modules, third-party packages,
    // the workspace's `@cloakroom/*` libraries, relative paths. Only the groups' order is
    // enforced; blank lines and the order within a group are the author's.
    files: ['**/*.ts', '**/*.tsx', '**/*.js', '**/*.jsx', '**/*.mjs', '**/*.cjs'],
    plugins: { 'import-x': importX },
    rules: {
      'import-x/order': [
        'error',
        {
          groups: ['builtin', 'external', 'internal', ['parent', 'sibling', 'index']],
          pathGroups: [{ pattern: '@cloakroom/**', group: 'internal' }],
          pathGroupsExcludedImportTypes: ['builtin'],
          distinctGroup: false,
          'newlines-between': 'ignore',
        },
      ],
    },
  },
  {
    // TypeORM's SQLite drivers run every query of a service on one connection: a transaction
    // there (`save` opens one) takes in the writes other requests make meanwhile, answered
    // before it commits and rolled back with it when it fails. Services write with single
    // statements (`insert`, `update`, `delete`), each committed on its own.
    files: ['**/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          property: 'save',
          message:
            "A TypeORM save() opens a transaction that, on SQLite, takes in other requests' writes: write with insert() or update()",
        },
        {
          property: 'transaction',
          message:
            "A TypeORM transaction, on SQLite, takes in other requests' writes: write with single statements",
        },
      ],
    },
  },
];
