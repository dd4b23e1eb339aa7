import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import request from 'supertest';
import ts from 'typescript';

import * as library from '../src';
import { SessionModuleOptions, SessionService } from '../src';
import { testKeyPrefix } from '../src/testing';

const WORKSPACE_ROOT = resolve(__dirname, '../../..');

/** The documents whose examples a user copies, and the part of each that is the library's. */
const DOCUMENTS = [
  { path: 'README.md', section: 'Use the library' },
  { path: 'libs/session/README.md' },
];

/** Fence languages that are not TypeScript, each one a reader recognises at a glance. */
const OTHER_LANGUAGES = new Set(['sh', 'json', 'text', 'lua', 'mermaid']);

interface Fence {
  document: string;
  /** 1-based line of the first line of code, after the opening fence. */
  line: number;
  language: string;
  flags: string[];
  code: string;
}

function sectionOf(
  markdown: string,
  heading: string | undefined,
): { text: string; offset: number } {
  if (heading === undefined) return { text: markdown, offset: 0 };
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line === `## ${heading}`);
  if (start < 0) throw new Error(`no "## ${heading}" section`);
  const length = lines.slice(start + 1).findIndex((line) => /^## /.test(line));
  const end = length < 0 ? lines.length : start + 1 + length;
  return { text: lines.slice(start, end).join('\n'), offset: start };
}

function fencesOf(document: string, section?: string): Fence[] {
  const { text, offset } = sectionOf(readFileSync(join(WORKSPACE_ROOT, document), 'utf8'), section);
  const lines = text.split('\n');
  const fences: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    // Indented too: a fence in a list item is an example all the same.
    const open = /^( *)```(.*)$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, info] = open;
    const [language = '', ...flags] = info.trim().split(/\s+/).filter(Boolean);
    const close = lines.findIndex((line, j) => j > i && line === `${indent}\`\`\``);
    if (close < 0) throw new Error(`${document}:${offset + i + 1}: a fence that never closes`);
    const body = lines.slice(i + 1, close).map((line) => line.slice(indent.length));
    const code = body.join('\n') + '\n';
    fences.push({ document, line: offset + i + 2, language, flags, code });
    i = close;
  }
  return fences;
}

function compilerOptions(): ts.CompilerOptions {
  const configPath = join(WORKSPACE_ROOT, 'tsconfig.base.json');
  const { config, error } = ts.readConfigFile(configPath, (path) => ts.sys.readFile(path));
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(
    { ...config, files: [], include: [] },
    ts.sys,
    dirname(configPath),
  );
  return {
    ...parsed.options,
    // As `nest new` sets up an app. (It does not catch a decorated parameter's type imported
    // without `import type`: through the path alias the library is source, not declarations.)
    strict: true,
    isolatedModules: true,
    noImplicitOverride: true,
    noImplicitReturns: true,
    types: ['node'],
    // Each example is a file of its own, with or without imports.
    moduleDetection: ts.ModuleDetectionKind.Force,
    noEmit: true,
  };
}

/** One program for every example: the library and its dependencies are checked once. */
function typeCheck(fences: Fence[]): string[] {
  const files = new Map(
    fences.map((fence) => [
      join(
        WORKSPACE_ROOT,
        'docs-examples',
        `${fence.document.replace(/\W/g, '-')}-${fence.line}.ts`,
      ),
      fence,
    ]),
  );
  const options = compilerOptions();
  const host = ts.createCompilerHost(options, true);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (path) => files.has(path) || fileExists.call(host, path);
  host.readFile = (path) => files.get(path)?.code ?? readFile.call(host, path);
  host.getSourceFile = (path, languageVersion, ...rest) => {
    const fence = files.get(path);
    return fence
      ? ts.createSourceFile(path, fence.code, languageVersion, true)
      : getSourceFile.call(host, path, languageVersion, ...rest);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const problems: string[] = [];
  for (const [path, fence] of files) {
    const source = program.getSourceFile(path);
    if (!source) throw new Error(`${path} was not compiled`);
    const diagnostics = [
      ...program.getSyntacticDiagnostics(source),
      ...program.getSemanticDiagnostics(source),
    ];
    for (const diagnostic of diagnostics) {
      const { line } = source.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      problems.push(`${fence.document}:${fence.line + line}: TS${diagnostic.code} ${message}`);
    }
  }
  return problems;
}

/**
 * Runs an example as the module it is, its `@cloakroom/session` being the library's source with
 * one change: every `SessionModule.forRoot` gets `keyPrefix`, so the example's Redis URL is
 * kept and its keys are the test's own.
 */
function load(fence: Fence, keyPrefix: string): Record<string, unknown> {
  const { outputText } = ts.transpileModule(fence.code, {
    compilerOptions: { ...compilerOptions(), isolatedModules: false, noEmit: false },
  });
  const session = {
    ...library,
    SessionModule: {
      forRoot: (options: SessionModuleOptions) =>
        library.SessionModule.forRoot({ ...options, keyPrefix }),
    },
  };
  const exampleRequire = (name: string): unknown =>
    name === '@cloakroom/session' ? session : require(name);
  const module = { exports: {} as Record<string, unknown> };
  new Function('exports', 'require', 'module', outputText)(module.exports, exampleRequire, module);
  return module.exports;
}

describe('the documentation’s examples', () => {
  const fences = DOCUMENTS.flatMap(({ path, section }) => fencesOf(path, section));
  const typescript = fences.filter((fence) => fence.language === 'ts');

  it('say what language each block is, so that none is skipped by accident', () => {
    const unnamed = fences
      .filter((fence) => fence.language !== 'ts' && !OTHER_LANGUAGES.has(fence.language))
      .map((fence) => `${fence.document}:${fence.line - 1}: \`\`\`${fence.language}`);
    expect(unnamed).toEqual([]);
  });

  it('mark a TypeScript block that is not meant to compile with `nocheck`, and nothing else', () => {
    const unknownFlags = typescript
      .filter((fence) => fence.flags.some((flag) => flag !== 'nocheck'))
      .map((fence) => `${fence.document}:${fence.line - 1}: ${fence.flags.join(' ')}`);
    expect(unknownFlags).toEqual([]);
  });

  it('type-check against the library, as an app with strict TypeScript compiles them', () => {
    const checked = typescript.filter((fence) => !fence.flags.includes('nocheck'));
    // The whole app and the service setup at least: a filter that dropped every block passes.
    expect(checked.length).toBeGreaterThanOrEqual(3);
    expect(typeCheck(checked)).toEqual([]);
  });

  describe('the app of the README’s "Use the library", run against Redis', () => {
    const keyPrefix = testKeyPrefix('docs-examples');
    let app: INestApplication;
    let sessions: SessionService;

    beforeAll(async () => {
      const [example] = fences.filter((fence) => fence.document === 'README.md');
      const { AppModule } = load(example, keyPrefix);
      const moduleRef = await Test.createTestingModule({
        imports: [AppModule as new () => object],
      }).compile();
      app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      sessions = app.get(SessionService);
    });

    afterAll(() => app?.close());

    const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

    it('answers a @Public() route without a session', async () => {
      const response = await request(app.getHttpServer()).get('/orders/health');
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ status: 'ok' });
    });

    it('answers 401 to a guarded route without a session, or with an unknown token', async () => {
      const server = app.getHttpServer();
      expect((await request(server).get('/orders')).status).toBe(401);
      const { token } = await sessions.create({
        id: 'u-gone',
        username: 'gone',
        roles: ['customer'],
      });
      await sessions.revoke(token);
      expect((await request(server).get('/orders').set(bearer(token))).status).toBe(401);
    });

    it('hands the route the bearer session’s user', async () => {
      const alice = { id: 'u-alice', username: 'alice', roles: ['customer'] };
      const { token } = await sessions.create(alice);
      const server = app.getHttpServer();
      const placed = await request(server).post('/orders').set(bearer(token));
      expect(placed.status).toBe(201);
      expect(placed.body).toEqual({ id: expect.any(Number), userId: 'u-alice' });
      const listed = await request(server).get('/orders').set(bearer(token));
      expect(listed.status).toBe(200);
      expect(listed.body).toEqual([placed.body]);
      // On the example's Redis URL, under the test's prefix rather than the shared default.
      const redis = new Redis('redis://127.0.0.1:6379');
      try {
        expect(await redis.exists(`${keyPrefix}user-tag-key`)).toBe(1);
      } finally {
        redis.disconnect();
      }
    });

    it('answers 403 to a session with none of the route’s roles', async () => {
      const admin = await sessions.create({ id: 'u-admin', username: 'admin', roles: ['admin'] });
      const guest = await sessions.create({ id: 'u-guest', username: 'guest', roles: ['guest'] });
      const server = app.getHttpServer();
      expect((await request(server).post('/orders').set(bearer(admin.token))).status).toBe(403);
      expect((await request(server).get('/orders').set(bearer(admin.token))).status).toBe(200);
      expect((await request(server).get('/orders').set(bearer(guest.token))).status).toBe(403);
    });
  });
});
