// Second step of `nx build session`: copies tsc's output into the package directory with the
// Redis scripts inlined. The library imports them as text (`import script from './x.lua'`,
// served by webpack's asset/source in the apps and by tools/jest/text-transform.js in Jest);
// plain Node cannot require a .lua file, so every `require("….lua")` tsc emitted becomes the
// script's text, read from the source tree. The .lua files stay the one copy, and the package
// works unbundled or bundled.
//
// Usage: node tools/session-package/inline-lua.js <project root> <tsc output> <package dir>
const { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { dirname, join, relative, resolve } = require('node:path');
const ts = require('typescript');

function filesUnder(dir, suffix) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(suffix))
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name));
}

/** The `require("….lua")` calls of one emitted file, found on its syntax tree. */
function luaRequires(file, code) {
  const source = ts.createSourceFile(file, code, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const found = [];
  const visit = (node) => {
    if (
      ts.isCallExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'require' &&
      node.arguments.length === 1 &&
      ts.isStringLiteralLike(node.arguments[0]) &&
      node.arguments[0].text.endsWith('.lua')
    ) {
      found.push({
        start: node.getStart(source),
        end: node.getEnd(),
        path: node.arguments[0].text,
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function inlineLua(projectRoot, compiledDir, outDir) {
  // Always from tsc's untouched output: running this twice gives the same package.
  rmSync(outDir, { recursive: true, force: true });
  cpSync(compiledDir, outDir, { recursive: true });
  const inlined = new Set();
  for (const file of filesUnder(outDir, '.js')) {
    const code = readFileSync(file, 'utf8');
    if (!code.includes('.lua')) continue;
    // tsc mirrors the project's tree under outDir, so the emitted file's imports resolve
    // against the directory of the .ts file it came from.
    const sourceDir = join(projectRoot, relative(outDir, dirname(file)));
    let result = code;
    for (const call of luaRequires(file, code).reverse()) {
      const script = resolve(sourceDir, call.path);
      // The same shape as a transpiled `export default`: works with or without esModuleInterop.
      const replacement = `{ __esModule: true, default: ${JSON.stringify(readFileSync(script, 'utf8'))} }`;
      result = result.slice(0, call.start) + replacement + result.slice(call.end);
      inlined.add(script);
    }
    if (result !== code) writeFileSync(file, result);
  }
  const scripts = filesUnder(join(projectRoot, 'src'), '.lua').map((file) => resolve(file));
  const missing = scripts.filter((script) => !inlined.has(script));
  if (missing.length > 0) {
    throw new Error(
      `No emitted file imports ${missing.map((file) => relative(projectRoot, file)).join(', ')}: ` +
        'the package would ship without these scripts, or they are dead and should be removed.',
    );
  }
  return inlined.size;
}

const [projectRoot, compiledDir, outDir] = process.argv.slice(2);
if (!projectRoot || !compiledDir || !outDir) {
  console.error(
    'Usage: node tools/session-package/inline-lua.js <project root> <tsc output> <package dir>',
  );
  process.exit(2);
}
const count = inlineLua(resolve(projectRoot), resolve(compiledDir), resolve(outDir));
console.log(`Inlined ${count} Lua scripts into ${outDir}`);
