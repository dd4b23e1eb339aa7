import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '../..');

/** Lints `code` as if it were the file at `filePath`, with the workspace's ESLint config. */
function boundaryErrors(filePath: string, code: string): string[] {
  // ESLint runs as its own process: its ESM config cannot load inside Jest's module sandbox.
  const run = spawnSync(
    process.execPath,
    [
      require.resolve('eslint/bin/eslint.js'),
      '--format',
      'json',
      '--stdin',
      '--stdin-filename',
      filePath,
    ],
    { cwd: root, input: code, encoding: 'utf8' },
  );
  const [result] = JSON.parse(run.stdout) as Array<{
    messages: Array<{ ruleId: string | null; message: string }>;
  }>;
  return result.messages
    .filter((message) => message.ruleId === '@nx/enforce-module-boundaries')
    .map((message) => message.message);
}

describe('module boundaries', () => {
  it('refuses an app importing another app', () => {
    const errors = boundaryErrors(
      'apps/orders/src/app/boundary-probe.ts',
      "import { AppModule } from '../../../auth/src/app/app.module';\nexport const probe = AppModule;\n",
    );
    expect(errors.length).toBeGreaterThan(0);
  });

  it('refuses the shared library importing an app', () => {
    const errors = boundaryErrors(
      'libs/session/src/lib/boundary-probe.ts',
      "import { AppModule } from '../../../../apps/auth/src/app/app.module';\nexport const probe = AppModule;\n",
    );
    expect(errors.length).toBeGreaterThan(0);
  });

  it('refuses a deep import into the session library', () => {
    const errors = boundaryErrors(
      'apps/orders/src/app/boundary-probe.ts',
      "import { newToken } from '@cloakroom/session/src/lib/session-token';\nexport const probe = newToken;\n",
    );
    expect(errors.length).toBeGreaterThan(0);
  });

  it('tags every project in two dimensions, and lets no app depend on an app', () => {
    const run = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const c = (await import('./eslint.config.mjs')).default; console.log(JSON.stringify(c.flatMap((e) => e.rules?.['@nx/enforce-module-boundaries']?.[1]?.depConstraints ?? [])));",
      ],
      { cwd: root, encoding: 'utf8' },
    );
    const constraints = JSON.parse(run.stdout) as Array<{
      sourceTag: string;
      onlyDependOnLibsWithTags: string[];
    }>;
    expect(constraints.some((rule) => rule.sourceTag === '*')).toBe(false);
    const apps = constraints.find((rule) => rule.sourceTag === 'type:app');
    expect(apps?.onlyDependOnLibsWithTags).not.toContain('type:app');
    expect(apps?.onlyDependOnLibsWithTags).not.toContain('*');
    const dataAccess = constraints.find((rule) => rule.sourceTag === 'type:data-access');
    expect(dataAccess?.onlyDependOnLibsWithTags).not.toContain('type:feature');

    const projectFiles = ['apps', 'libs', 'tools']
      .flatMap((dir) =>
        readdirSync(join(root, dir)).map((name) => join(root, dir, name, 'project.json')),
      )
      .filter((file) => existsSync(file));
    expect(projectFiles.length).toBeGreaterThan(5);
    for (const file of projectFiles) {
      const { name, tags } = JSON.parse(readFileSync(file, 'utf8')) as {
        name: string;
        tags: string[];
      };
      expect([name, tags.some((tag) => tag.startsWith('scope:'))]).toEqual([name, true]);
      expect([name, tags.some((tag) => tag.startsWith('type:'))]).toEqual([name, true]);
    }
  });

  it('refuses the session library (data access) importing a feature library', () => {
    const errors = boundaryErrors(
      'libs/session/src/lib/boundary-probe.ts',
      "import { ServiceHealthModule } from '@cloakroom/service-sessions';\nexport const probe = ServiceHealthModule;\n",
    );
    expect(errors.length).toBeGreaterThan(0);
  });

  it('refuses the service kit (a utility) importing the session library', () => {
    const errors = boundaryErrors(
      'libs/service-kit/src/lib/boundary-probe.ts',
      "import { SessionModule } from '@cloakroom/session';\nexport const probe = SessionModule;\n",
    );
    expect(errors.length).toBeGreaterThan(0);
  });

  it('allows a feature library to build on the session library and the service kit', () => {
    const errors = boundaryErrors(
      'libs/service-sessions/src/lib/boundary-probe.ts',
      "import { SessionModule } from '@cloakroom/session';\nimport { StartupError } from '@cloakroom/service-kit';\nexport const probe = [SessionModule, StartupError];\n",
    );
    expect(errors).toEqual([]);
  });

  it('allows an app to import the session library through its alias', () => {
    const errors = boundaryErrors(
      'apps/orders/src/app/boundary-probe.ts',
      "import { SessionModule } from '@cloakroom/session';\nexport const probe = SessionModule;\n",
    );
    expect(errors).toEqual([]);
  });
});
