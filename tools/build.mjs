// Bundles the firmware per target and the host programs with esbuild, prints sizes, and fails on what must never reach a device (docs/architecture.md §2).
//
// Usage: node tools/build.mjs            (npm run build)
//
// Firmware bundles (dist/tinyhsm-<target>.js) are IIFE scripts for an engine that has no module loader:
//   node      the simulator's bundle (loaded by sim/ into an isolated vm context), es2020, noble's default window
//   generic   XS / QuickJS-style embeddings that define globalThis.board, es2020
//   kaluma    Kaluma 1.x on the Pico 2 (JerryScript 2.4): es2019 syntax (no `?.`, `??`, class fields) but BigInt
//             literals, no arrow functions; kaluma-pico the same for the Pico (no Weierstrass curves)
//   espruino  Espruino (no BigInt, ES5-ish parser): no curve code at all, downlevelled to ES5 by TypeScript
// Each firmware bundle also gets an unminified copy, dist/tinyhsm-<target>.debug.js, for readable stack traces
// and for the source checks below (esbuild marks every module there with a `// path` comment).
//
// The build FAILS (exit 1) when, in any firmware bundle:
//   - an input comes from sim/, host/, tools/, test/, or is a *.test.ts file, or a node builtin (node:*) is imported;
// and in a device bundle (generic, kaluma, espruino):
//   - the minified size is over its budget (160 KiB; the generic and Kaluma bundles 192 KiB: GENERIC_BUDGET, KALUMA_BUDGET);
//   - @noble/ciphers' AES is included (noble builds ~640 KiB of AES tables on first use; docs/architecture.md §3);
//   - `Math.random`, `Date.now`, `performance.now` or `new Date` appear outside @noble's own code. Noble references
//     `Date.now` only to time-slice its async KDF loops (hashes/utils.js asyncLoop), never for randomness, so that one
//     is allowed there; `Math.random` is allowed nowhere (noble never uses it, and a device must not);
// and in the espruino bundle:
//   - any BigInt (literal or `BigInt(` call) or syntax newer than ES5 survives the downlevel pass.
// Host programs (dist/cli.js, dist/bench.js) are ESM for Node with packages left external; an entry whose source
// does not exist yet is skipped with a note.
import * as esbuild from 'esbuild';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Largest minified device bundle (docs/architecture.md §2: the build fails over it), unless its target sets `budget`. */
export const DEVICE_BUDGET = 160 * 1024;
/**
 * The Kaluma bundles' own budget. A board image runs them as a static snapshot kept in flash (docs/boards.md "Kaluma"),
 * so their size costs flash, not heap; the heap they need is what binds, and the engine suite measures it against each
 * board's heap budget. This cap stops growth that nobody meant: 192 KiB (176 KiB until the domain commands, which
 * brought the Pico 2's bundle to its last 72 bytes; the Pico's leaves them out).
 */
export const KALUMA_BUDGET = 192 * 1024;
/**
 * The generic (XS) bundle's budget: with the domain, backup and restore it outgrew 160 KiB, with the audit log (about
 * 10 KB in every bundle, docs/audit.md) 176 KiB. XS runs it on a PSRAM-class
 * heap, which the engine suite measures against its 2 MB budget (docs/boards.md "Moddable XS"); this cap, like
 * KALUMA_BUDGET, stops growth that nobody meant.
 */
export const GENERIC_BUDGET = 192 * 1024;

/** A device target's size budget in bytes. */
export function budgetOf(spec) {
  return spec.budget !== undefined ? spec.budget : DEVICE_BUDGET;
}

/**
 * The firmware targets. `device` bundles get the size budget and the source checks; `downlevel: 'es5'` runs the
 * esbuild output through TypeScript's ES5 emitter because esbuild cannot lower default/rest parameters or
 * destructuring, which Espruino's parser does not accept.
 */
export const FIRMWARE_TARGETS = [
  { name: 'node', entry: 'firmware/platform/node/entry.ts', out: 'tinyhsm-node.js', target: 'es2022', device: false, minify: false },
  {
    name: 'generic',
    entry: 'firmware/platform/generic/entry.ts',
    out: 'tinyhsm-generic.js',
    target: 'es2020',
    device: true,
    budget: GENERIC_BUDGET,
    minify: true,
  },
  {
    // Kaluma 1.2 / JerryScript 2.4 on the Pico 2 (RP2350, 256 KB heap); the Pico (RP2040, 180 KB) has kaluma-pico. Both
    // share firmware/platform/kaluma/boot.ts and differ in the curves they carry (docs/boards.md "Kaluma").
    name: 'kaluma',
    entry: 'firmware/platform/kaluma/entry.ts',
    out: 'tinyhsm-kaluma.js',
    target: 'es2019',
    // esbuild refuses BigInt literals below es2020; JerryScript 2.4 parses them (docs/architecture.md §3).
    // No arrow functions: a board image runs the bundle as a static snapshot, and JerryScript 2.4 reads a static arrow
    // function's byte code pointer at the wrong offset (ecma_op_function_get_compiled_code takes every static function
    // for an ecma_static_function_t; an arrow is an ecma_static_arrow_function_t), so its first call crashes. esbuild
    // lowers them to function expressions, with `this` and `arguments` captured in variables.
    supported: { bigint: true, arrow: false },
    device: true,
    budget: KALUMA_BUDGET,
    minify: true,
  },
  {
    name: 'kaluma-pico',
    entry: 'firmware/platform/kaluma/entry_pico.ts',
    out: 'tinyhsm-kaluma-pico.js',
    target: 'es2019',
    supported: { bigint: true, arrow: false },
    // no room in 180 KB for the domain, backup and restore (docs/boards.md "What each board leaves out")
    withoutDomain: true,
    device: true,
    budget: KALUMA_BUDGET,
    minify: true,
  },
  {
    name: 'espruino',
    entry: 'firmware/platform/espruino/entry.ts',
    out: 'tinyhsm-espruino.js',
    target: 'es2020',
    // Espruino has no BigInt: esbuild rewrites any BigInt literal as a BigInt("…") call, which checkNoBigInt then rejects.
    supported: { bigint: false },
    // no Ed25519 here, so no officers, no domain and no streamed SIGN; their code would only cost JsVars
    withoutDomain: true,
    withoutStream: true,
    downlevel: 'es5',
    device: true,
    minify: true,
  },
];

/** Host-side programs for Node. */
export const HOST_TARGETS = [
  { name: 'cli', entry: 'tools/cli.ts', out: 'cli.js' },
  { name: 'bench', entry: 'tools/bench.ts', out: 'bench.js' },
];

const FORBIDDEN_DIRS = ['sim', 'host', 'tools', 'test'];
const NODE_BUILTINS = new Set(builtinModules.filter((m) => !m.startsWith('_')));
const SOURCE_PATTERNS = [
  { re: /\bMath\.random\b/g, what: 'Math.random', nobleMayUse: false },
  { re: /\bDate\.now\b/g, what: 'Date.now', nobleMayUse: true },
  { re: /\bperformance\.now\b/g, what: 'performance.now', nobleMayUse: false },
  { re: /\bnew Date\b/g, what: 'new Date', nobleMayUse: false },
];

const toPosix = (p) => p.split(sep).join('/');

/** Path of a metafile input relative to the repository root, with forward slashes. */
function rootRelative(input, root) {
  const abs = isAbsolute(input) ? input : resolve(root, input);
  return toPosix(relative(root, abs));
}

function isNodeBuiltin(spec) {
  if (spec.startsWith('node:')) return true;
  return NODE_BUILTINS.has(spec.split('/')[0]);
}

/**
 * esbuild plugin: keep node builtins out of the resolver so that a bad import shows up in the metafile (and is
 * reported by checkMetafile with its importer) instead of as a bare "could not resolve" on platform 'neutral'.
 */
const nodeBuiltinsAsExternal = {
  name: 'tinyhsm-node-builtins',
  setup(build) {
    build.onResolve({ filter: /^[a-z_:][\w:/.-]*$/ }, (args) => (isNodeBuiltin(args.path) ? { path: args.path, external: true } : undefined));
  },
};

/** Which inputs import `path` (for messages that say where a forbidden import came from). */
function importersOf(metafile, path) {
  const out = [];
  for (const [file, info] of Object.entries(metafile.inputs)) {
    for (const imp of info.imports || []) if (imp.path === path) out.push(file);
  }
  return out;
}

/**
 * The layering rules over an esbuild metafile (docs/architecture.md §2: firmware imports nothing from host/, sim/,
 * tools/, test/ or node:*). Returns one message per violation; empty means clean.
 */
export function checkMetafile(metafile, { bundle, device, root = ROOT }) {
  const problems = [];
  for (const input of Object.keys(metafile.inputs)) {
    const rel = rootRelative(input, root);
    const top = rel.split('/')[0];
    const by = importersOf(metafile, input);
    const from = by.length ? ` (imported by ${by.map((b) => rootRelative(b, root)).join(', ')})` : ' (the entry point)';
    if (input.startsWith('node:')) problems.push(`${bundle}: node builtin ${input}${from} reaches a firmware bundle; firmware must not import node:*`);
    else if (FORBIDDEN_DIRS.includes(top))
      problems.push(`${bundle}: ${rel}${from} reaches a firmware bundle; firmware must not import ${top}/ (docs/architecture.md §2)`);
    else if (/\.test\.[cm]?[jt]s$/.test(rel)) problems.push(`${bundle}: test file ${rel}${from} reaches a firmware bundle`);
    if (device && rel.includes('@noble/ciphers/') && /aes/i.test(rel.split('/').pop()))
      problems.push(
        `${bundle}: ${rel}${from} puts @noble/ciphers' AES in a device bundle; its tables take ~640 KiB of heap (docs/architecture.md §3: use ChaCha20-Poly1305)`,
      );
    for (const imp of metafile.inputs[input].imports || []) {
      if (imp.external && isNodeBuiltin(imp.path))
        problems.push(
          `${bundle}: node builtin '${imp.path}' imported by ${rel} reaches a firmware bundle; firmware must not import node:* (docs/architecture.md §2)`,
        );
    }
  }
  return problems;
}

/**
 * Split an unminified esbuild bundle into its modules using the `// path` comments esbuild writes before each one,
 * then report forbidden time and randomness sources with the module they come from.
 */
export function checkDeviceSource(debugCode, { bundle }) {
  const problems = [];
  const notes = [];
  let current = '(bundle prelude)';
  const lines = debugCode.split('\n');
  for (let i = 0; i < lines.length; i++) {
    // esbuild strips ordinary comments, so a line that is only `// some/path.ts` is its module marker
    const m = /^\s*\/\/ (\S+\.[cm]?[jt]sx?)$/.exec(lines[i]);
    if (m) {
      current = m[1];
      continue;
    }
    const line = lines[i];
    if (/^\s*(\/\/|\*|\/\*)/.test(line)) continue; // comments do not run
    for (const p of SOURCE_PATTERNS) {
      p.re.lastIndex = 0;
      if (!p.re.test(line)) continue;
      const noble = /(^|\/)node_modules\/@noble\//.test(current);
      if (noble && p.nobleMayUse) notes.push(`${bundle}: ${p.what} in ${current} (noble's async loop time slicing; allowed)`);
      else
        problems.push(
          `${bundle}: ${p.what} in ${current}: device code takes time and randomness only from the Env (board clock and TRNG), line ${i + 1} of the debug bundle`,
        );
    }
  }
  return { problems, notes };
}

/** Espruino cannot parse BigInt at all: no literal and no BigInt() call may survive (text in strings and comments does not count). */
export function checkNoBigInt(code, { bundle }) {
  const problems = [];
  const stripped = code.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/g, '""');
  if (/\bBigInt\b/.test(stripped)) problems.push(`${bundle}: the bundle references BigInt, which this engine does not have (curve code must stay out of it)`);
  // a BigInt literal: digits followed by `n` and a non-identifier character
  const lit = /(^|[^\w$.])(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|\d[\d_]*)n\b/.exec(stripped);
  if (lit) problems.push(`${bundle}: BigInt literal ${lit[2]}n in the bundle; this engine cannot parse it`);
  return problems;
}

/**
 * Espruino runs code as it parses it and hoists no function declaration (src/jsparse.c, jspeStatementFunctionDecl
 * creates the function when the statement is reached), while TypeScript's ES5 classes call `__extends(C, _super)`
 * before `function C() {}`. This moves every function declaration to the top of its statement list (after any
 * directive prologue), which is where ECMA-262 §10.2.11 (FunctionDeclarationInstantiation) puts it anyway.
 */
function hoistFunctionDeclarations(ts) {
  return (context) => {
    const visit = (node) => {
      node = ts.visitEachChild(node, visit, context);
      if (!(ts.isSourceFile(node) || ts.isBlock(node))) return node;
      const stmts = node.statements;
      let prologue = 0;
      while (prologue < stmts.length && ts.isExpressionStatement(stmts[prologue]) && ts.isStringLiteral(stmts[prologue].expression)) prologue++;
      const rest = stmts.slice(prologue);
      const fns = rest.filter((st) => ts.isFunctionDeclaration(st));
      if (fns.length === 0) return node;
      const reordered = [...stmts.slice(0, prologue), ...fns, ...rest.filter((st) => !ts.isFunctionDeclaration(st))];
      return ts.isSourceFile(node) ? context.factory.updateSourceFile(node, reordered) : context.factory.updateBlock(node, reordered);
    };
    return (sf) => visit(sf);
  };
}

/**
 * Espruino creates a `var` only when its statement runs (src/jsparse.c, jspeStatementVar), so a name read on a path
 * that skipped its declaration is a ReferenceError there: TypeScript's own `__spreadArray` declares `ar` in a `for`
 * that may not run and reads it after. An assignment before the declaration would even create a global. This
 * declares every `var` name of a function (or of the script) once, with no initializer, at the top of its body (after
 * any directive prologue), which is what ECMA-262 §10.2.11 (FunctionDeclarationInstantiation, step 27: varNames
 * bound to undefined) does on entry. The original statements stay as they are; Espruino's `var` on a name that already
 * exists keeps its value. Must run after hoistFunctionDeclarations (this pass puts the `var` line above the functions).
 */
function hoistVarDeclarations(ts) {
  const isFunctionLike = (n) =>
    ts.isFunctionDeclaration(n) ||
    ts.isFunctionExpression(n) ||
    ts.isArrowFunction(n) ||
    ts.isMethodDeclaration(n) ||
    ts.isGetAccessorDeclaration(n) ||
    ts.isSetAccessorDeclaration(n) ||
    ts.isConstructorDeclaration(n);
  /** Names declared with `var` in `node`, not looking into nested functions. */
  const varNames = (body) => {
    const names = [];
    const seen = new Set();
    const walk = (n) => {
      if (isFunctionLike(n) || ts.isClassLike(n)) return;
      if (ts.isVariableDeclarationList(n) && (n.flags & ts.NodeFlags.BlockScoped) === 0) {
        for (const d of n.declarations) {
          if (!ts.isIdentifier(d.name)) throw new Error(`ES5 pass: a var binding pattern survived the downlevel (${d.name.getText ? d.name.getText() : '?'})`);
          // TypeScript's own temporaries (_a, _loop_1) are generated identifiers with no text until printed: keep the node
          const key = d.name.text !== '' ? d.name.text : d.name;
          if (!seen.has(key)) {
            seen.add(key);
            names.push(d.name);
          }
        }
      }
      ts.forEachChild(n, walk);
    };
    for (const st of body.statements) walk(st);
    return names;
  };
  return (context) => {
    const f = context.factory;
    const withDeclarations = (node) => {
      const names = varNames(node);
      if (names.length === 0) return node;
      const stmts = node.statements;
      let prologue = 0;
      while (prologue < stmts.length && ts.isExpressionStatement(stmts[prologue]) && ts.isStringLiteral(stmts[prologue].expression)) prologue++;
      const decl = f.createVariableStatement(
        undefined,
        f.createVariableDeclarationList(
          names.map((n) => f.createVariableDeclaration(n)),
          ts.NodeFlags.None,
        ),
      );
      const reordered = [...stmts.slice(0, prologue), decl, ...stmts.slice(prologue)];
      return ts.isSourceFile(node) ? f.updateSourceFile(node, reordered) : f.updateBlock(node, reordered);
    };
    const visit = (node) => {
      node = ts.visitEachChild(node, visit, context);
      if (isFunctionLike(node) && node.body && ts.isBlock(node.body)) {
        const body = withDeclarations(node.body);
        if (body === node.body) return node;
        if (ts.isFunctionDeclaration(node))
          return f.updateFunctionDeclaration(node, node.modifiers, node.asteriskToken, node.name, node.typeParameters, node.parameters, node.type, body);
        if (ts.isFunctionExpression(node))
          return f.updateFunctionExpression(node, node.modifiers, node.asteriskToken, node.name, node.typeParameters, node.parameters, node.type, body);
        if (ts.isArrowFunction(node))
          return f.updateArrowFunction(node, node.modifiers, node.typeParameters, node.parameters, node.type, node.equalsGreaterThanToken, body);
        throw new Error(`ES5 pass: a ${ts.SyntaxKind[node.kind]} with var declarations survived the downlevel`);
      }
      return node;
    };
    return (sf) => withDeclarations(visit(sf));
  };
}

/**
 * Words Espruino's lexer takes as keywords although JavaScript lets them name a binding (src/jslex.h, LEX_R_OF and
 * LEX_R_UNDEFINED): `var of = 1` is a SyntaxError there. esbuild's minifier avoids only JavaScript's own reserved
 * words, so any two-letter name it picks may be `of`.
 */
export const ESPRUINO_KEYWORD_NAMES = ['of', 'undefined'];

/**
 * Renames every identifier spelled like an Espruino keyword (ESPRUINO_KEYWORD_NAMES) that is a binding or a reference,
 * not a property name, to a name the bundle does not use. The same new name everywhere keeps every scope's shadowing as
 * it was, and no global is called `of`. Returns { code, renamed } (renamed: how many identifiers changed).
 */
export async function renameEspruinoKeywords(code, bundle) {
  const ts = (await import('typescript')).default;
  const sf = ts.createSourceFile(`${bundle}.js`, code, ts.ScriptTarget.ES5, true, ts.ScriptKind.JS);
  const used = new Set();
  const hits = [];
  const isPropertyName = (n) => {
    const p = n.parent;
    return (
      (ts.isPropertyAccessExpression(p) && p.name === n) ||
      ((ts.isPropertyAssignment(p) || ts.isMethodDeclaration(p) || ts.isGetAccessorDeclaration(p) || ts.isSetAccessorDeclaration(p)) && p.name === n)
    );
  };
  const walk = (n) => {
    if (ts.isIdentifier(n)) {
      used.add(n.text);
      if (ESPRUINO_KEYWORD_NAMES.includes(n.text) && !isPropertyName(n)) {
        if (n.text === 'undefined' && !(ts.isVariableDeclaration(n.parent) || ts.isParameter(n.parent) || ts.isFunctionLike(n.parent))) {
          // a reading of the global `undefined` is what Espruino's keyword means too
        } else if (ts.isShorthandPropertyAssignment(n.parent)) {
          throw new Error(`${bundle}: shorthand property {${n.text}} in the ES5 bundle; the rename would change its key`);
        } else hits.push(n);
      }
    }
    ts.forEachChild(n, walk);
  };
  walk(sf);
  if (hits.length === 0) return { code, renamed: 0 };
  const fresh = {};
  for (const word of new Set(hits.map((h) => h.text))) {
    let i = 0;
    while (used.has(`${word}$${i}`)) i++;
    fresh[word] = `${word}$${i}`;
    used.add(fresh[word]);
  }
  let out = code;
  for (const h of [...hits].sort((a, b) => b.getStart(sf) - a.getStart(sf))) out = out.slice(0, h.getStart(sf)) + fresh[h.text] + out.slice(h.end);
  return { code: out, renamed: hits.length };
}

/**
 * Runs the minified bundle body at the script's top level instead of inside `function tinyhsm() {…}`, with every
 * name the body declares renamed to a fresh `$…` name. Measured in the 2v29 twin: about 700 JsVars less after load.
 * Espruino stores in each function the scopes it closes over (src/jsparse.c, jspeiGetScopesAsVar): nothing at the
 * top level, a reference to one scope inside one function, and a copied array of scopes deeper down, which every
 * ES5 class method (a function in a class IIFE inside the body) then paid for. At the top level the body's names
 * become globals: the minifier's one- and two-letter names would overwrite Espruino's own (`E`, `D2`, `LED1`), so
 * each gets a name that no identifier in the bundle uses and that starts with `$`, which no Espruino global does.
 * The rename follows TypeScript's binder, so an inner name that shadows a top-level one keeps its own.
 */
export async function unwrapEspruinoBody(code, bundle) {
  const ts = (await import('typescript')).default;
  const fileName = `/${bundle}.js`;
  const sf = ts.createSourceFile(fileName, code, ts.ScriptTarget.ES5, true, ts.ScriptKind.JS);
  const fn = sf.statements.find((st) => ts.isFunctionDeclaration(st) && st.name && st.name.text === ESPRUINO_BODY_NAME);
  const calls = sf.statements.filter(
    (st) =>
      ts.isExpressionStatement(st) &&
      ts.isCallExpression(st.expression) &&
      ts.isIdentifier(st.expression.expression) &&
      st.expression.expression.text === ESPRUINO_BODY_NAME,
  );
  if (!fn || !fn.body || calls.length !== 1) throw new Error(`${bundle}: no function ${ESPRUINO_BODY_NAME}() {…} called once at the top level to unwrap`);
  const host = ts.createCompilerHost({ allowJs: true });
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, ...rest) => (name === fileName ? sf : getSourceFile(name, ...rest));
  const program = ts.createProgram([fileName], { allowJs: true, noLib: true, noResolve: true, types: [] }, host);
  const checker = program.getTypeChecker();
  const ownSf = program.getSourceFile(fileName);
  if (ownSf !== sf) throw new Error(`${bundle}: the type checker did not take the bundle as given`);
  // the body's own names: its function declarations and every `var` not inside a nested function
  const top = new Set();
  const used = new Set();
  const isFunctionLike = (n) => ts.isFunctionLike(n);
  const collect = (n) => {
    if (ts.isFunctionDeclaration(n) && n.name) top.add(checker.getSymbolAtLocation(n.name));
    if (isFunctionLike(n)) return;
    if (n.kind === ts.SyntaxKind.ThisKeyword)
      throw new Error(`${bundle}: \`this\` at the top level of the body; it would mean the global object once unwrapped`);
    if (ts.isIdentifier(n) && n.text === 'arguments') throw new Error(`${bundle}: \`arguments\` at the top level of the body`);
    if (ts.isVariableDeclarationList(n) && (n.flags & ts.NodeFlags.BlockScoped) === 0)
      for (const d of n.declarations) if (ts.isIdentifier(d.name)) top.add(checker.getSymbolAtLocation(d.name));
    ts.forEachChild(n, collect);
  };
  for (const st of fn.body.statements) collect(st);
  top.delete(undefined);
  const refs = [];
  const walk = (n) => {
    if (ts.isIdentifier(n)) {
      used.add(n.text);
      const p = n.parent;
      const propertyName = (ts.isPropertyAccessExpression(p) && p.name === n) || (ts.isPropertyAssignment(p) && p.name === n);
      if (!propertyName && top.has(checker.getSymbolAtLocation(n))) refs.push(n);
    }
    ts.forEachChild(n, walk);
  };
  walk(fn.body);
  ts.forEachChild(sf, (n) => n !== fn && walk(n));
  const CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_';
  let counter = 0;
  const fresh = () => {
    for (;;) {
      let n = counter++;
      let name = '';
      do {
        name += CHARS[n % CHARS.length];
        n = Math.floor(n / CHARS.length);
      } while (n > 0);
      name = '$' + name;
      if (!used.has(name) && !ESPRUINO_KEYWORD_NAMES.includes(name)) return name;
    }
  };
  const names = new Map();
  for (const sym of top) names.set(sym, fresh());
  const edits = refs.map((n) => ({ start: n.getStart(sf), end: n.end, text: names.get(checker.getSymbolAtLocation(n)) }));
  // the body replaces the call; the declaration goes
  const bodyStart = fn.body.getStart(sf) + 1;
  const bodyEnd = fn.body.end - 1;
  let body = '';
  let pos = bodyStart;
  for (const e of edits.filter((x) => x.start >= bodyStart && x.end <= bodyEnd).sort((a, b) => a.start - b.start)) {
    body += code.slice(pos, e.start) + e.text;
    pos = e.end;
  }
  body += code.slice(pos, bodyEnd);
  const outside = edits.filter((x) => x.start < fn.getStart(sf) || x.start >= fn.end);
  if (outside.length) throw new Error(`${bundle}: code outside the body refers to the body's names`);
  const call = calls[0];
  const out = code.slice(0, fn.getStart(sf)) + code.slice(fn.end, call.getStart(sf)) + body + ';' + code.slice(call.end);
  return { code: out, renamed: names.size };
}

/** The name the Espruino bundle's body runs under (see nameTheBundleFunction). */
export const ESPRUINO_BODY_NAME = 'tinyhsm';

/**
 * esbuild's IIFE `(function () { … })();` becomes `function tinyhsm() { … } tinyhsm();`. Espruino names each stack
 * frame with jsvGetString(lex->functionName) (src/jslex.c, jslPrintStackTrace), and for a function called by value,
 * as an IIFE is, that "name" is the function itself, which jsvGetString first turns into its whole source text
 * (jsvAsString → jsfGetJSON). Every `new Error` thrown while the bundle loads (the self-tests throw one per curve)
 * would copy the 110 KB bundle into JsVars: measured, an out-of-memory at 12,000 JsVars with 4,500 free. A declared
 * function's frame is named by its name. The script's other top-level statements (TypeScript's helpers) stay.
 */
function nameTheBundleFunction(ts) {
  return () => (sf) => {
    const stmts = sf.statements;
    const last = stmts[stmts.length - 1];
    const call = last && ts.isExpressionStatement(last) ? last.expression : undefined;
    let fn = call && ts.isCallExpression(call) && call.arguments.length === 0 ? call.expression : undefined;
    while (fn && ts.isParenthesizedExpression(fn)) fn = fn.expression;
    if (!fn || !ts.isFunctionExpression(fn) || fn.parameters.length !== 0)
      throw new Error('ES5 pass: the bundle does not end with the IIFE esbuild writes; the Espruino body cannot be named');
    const f = ts.factory;
    const decl = f.createFunctionDeclaration(undefined, undefined, ESPRUINO_BODY_NAME, undefined, [], undefined, fn.body);
    const run = f.createExpressionStatement(f.createCallExpression(f.createIdentifier(ESPRUINO_BODY_NAME), undefined, []));
    return f.updateSourceFile(sf, [...stmts.slice(0, -1), decl, run]);
  };
}

/** TypeScript's ES5 emitter over the bundled JS (Espruino: no default/rest parameters, destructuring, spread, for-of). */
export async function downlevelToEs5(code, bundle) {
  const ts = (await import('typescript')).default;
  const out = ts.transpileModule(code, {
    fileName: `${bundle}.js`,
    reportDiagnostics: true,
    compilerOptions: {
      target: ts.ScriptTarget.ES5,
      module: ts.ModuleKind.CommonJS,
      allowJs: true,
      downlevelIteration: true, // for-of over Map etc. goes through Symbol.iterator (the Espruino entry polyfills it)
      removeComments: false,
      noEmitHelpers: false,
      importHelpers: false,
      sourceMap: false,
      alwaysStrict: false,
      moduleDetection: ts.ModuleDetectionKind.Legacy, // the bundle is a script: no CommonJS exports preamble
    },
  });
  const errs = (out.diagnostics || []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errs.length) throw new Error(`${bundle}: ES5 downlevel failed: ${errs.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ')}`);
  // A second pass over the printed ES5, so that TypeScript's helpers (__spreadArray, __read, …), which its printer
  // writes as text and no transformer sees, are hoisted like the rest.
  const sf = ts.createSourceFile(`${bundle}.es5.js`, out.outputText, ts.ScriptTarget.ES5, false, ts.ScriptKind.JS);
  const hoisted = ts.transform(sf, [nameTheBundleFunction(ts), hoistFunctionDeclarations(ts), hoistVarDeclarations(ts)]);
  const text = ts.createPrinter({ removeComments: false }).printFile(hoisted.transformed[0]);
  hoisted.dispose();
  return text;
}

const gz = (text) => gzipSync(Buffer.from(text), { level: 9 }).length;

/**
 * esbuild's options for a firmware target's unminified IIFE (the one shape every firmware bundle starts from; the
 * Espruino profiler, tools/engines/espruino/profile.mjs, builds it the same way).
 */
export function firmwareBuildOptions(spec, entry, root = ROOT) {
  return {
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'neutral',
    // platform 'neutral' resolves no package fields by default; noble and friends publish ESM under these
    mainFields: ['module', 'main'],
    conditions: ['import', 'default'],
    target: spec.target,
    supported: spec.supported,
    // a board's profile may leave the domain commands out (core/dispatch.ts; docs/boards.md "What each board leaves out")
    define: { TINYHSM_WITHOUT_DOMAIN: spec.withoutDomain ? 'true' : 'false', TINYHSM_WITHOUT_STREAM: spec.withoutStream ? 'true' : 'false' },
    minify: false,
    logLevel: 'silent',
    legalComments: 'inline',
  };
}

/**
 * Bundle one firmware target and run every check. Never throws for a build or check failure: returns
 * { ok, problems, notes, code, debugCode, metafile, minified, gzipped }. Writes files when `outdir` is given and the build succeeded.
 */
export async function buildFirmware(spec, { root = ROOT, outdir } = {}) {
  const problems = [];
  const notes = [];
  const entry = isAbsolute(spec.entry) ? spec.entry : join(root, spec.entry);
  if (!existsSync(entry)) return { ok: false, problems: [`${spec.name}: entry ${spec.entry} does not exist`], notes };
  let result;
  try {
    result = await esbuild.build({ ...firmwareBuildOptions(spec, entry, root), metafile: true, plugins: [nodeBuiltinsAsExternal] });
  } catch (e) {
    const msgs =
      e && e.errors
        ? e.errors.map((m) => `${spec.name}: ${m.location ? `${m.location.file}:${m.location.line}: ` : ''}${m.text}`)
        : [`${spec.name}: ${String(e)}`];
    return { ok: false, problems: msgs, notes };
  }
  const metafile = result.metafile;
  problems.push(...checkMetafile(metafile, { bundle: spec.name, device: spec.device, root }));
  let debugCode = result.outputFiles[0].text;
  if (spec.device) {
    const r = checkDeviceSource(debugCode, { bundle: spec.name });
    problems.push(...r.problems);
    notes.push(...r.notes);
  }
  if (spec.downlevel === 'es5') {
    try {
      debugCode = await downlevelToEs5(debugCode, spec.name);
    } catch (e) {
      return { ok: false, problems: [...problems, String(e.message || e)], notes, metafile };
    }
  }
  let code = debugCode;
  if (spec.minify || spec.downlevel) {
    try {
      const t = await esbuild.transform(debugCode, {
        loader: 'js',
        minify: !!spec.minify,
        // for the ES5 pass this is also the syntax check: esbuild fails on anything newer it cannot lower
        target: spec.downlevel === 'es5' ? 'es5' : spec.target,
        supported: spec.supported,
        legalComments: 'eof',
        logLevel: 'silent',
      });
      code = t.code;
    } catch (e) {
      const msgs =
        e && e.errors
          ? e.errors.map(
              (m) => `${spec.name}: ${m.text}${m.location ? ` at ${m.location.line}:${m.location.column} «${m.location.lineText.trim().slice(0, 120)}»` : ''}`,
            )
          : [String(e)];
      return { ok: false, problems: [...problems, ...msgs], notes, metafile };
    }
  }
  if (spec.downlevel === 'es5') {
    try {
      code = (await unwrapEspruinoBody(code, spec.name)).code;
      debugCode = (await renameEspruinoKeywords(debugCode, `${spec.name}.debug`)).code;
      const r = await renameEspruinoKeywords(code, spec.name);
      code = r.code;
      if (r.renamed > 0) notes.push(`${spec.name}: ${r.renamed} identifiers spelled like an Espruino keyword renamed`);
    } catch (e) {
      return { ok: false, problems: [...problems, String(e.message || e)], notes, metafile };
    }
  }
  if (spec.supported && spec.supported.bigint === false) problems.push(...checkNoBigInt(code, { bundle: spec.name }));
  const minified = Buffer.byteLength(code);
  const gzipped = gz(code);
  if (spec.device && minified > budgetOf(spec))
    problems.push(`${spec.name}: ${minified} bytes minified is over the ${budgetOf(spec)}-byte (${budgetOf(spec) / 1024} KiB) device budget`);
  const ok = problems.length === 0;
  if (ok && outdir) {
    mkdirSync(outdir, { recursive: true });
    writeFileSync(join(outdir, spec.out), code);
    if (code !== debugCode) writeFileSync(join(outdir, spec.out.replace(/\.js$/, '.debug.js')), debugCode);
  }
  return { ok, problems, notes, code, debugCode, metafile, minified, gzipped };
}

/** Bundle one host program for Node (ESM, packages external). */
export async function buildHost(spec, { root = ROOT, outdir } = {}) {
  const entry = join(root, spec.entry);
  if (!existsSync(entry)) return { ok: true, skipped: true, problems: [], notes: [`${spec.name}: ${spec.entry} does not exist yet; skipped`] };
  try {
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      logLevel: 'silent',
    });
    const code = result.outputFiles[0].text;
    if (outdir) {
      mkdirSync(outdir, { recursive: true });
      writeFileSync(join(outdir, spec.out), code);
    }
    return { ok: true, problems: [], notes: [], code, minified: Buffer.byteLength(code), gzipped: gz(code) };
  } catch (e) {
    const msgs =
      e && e.errors
        ? e.errors.map((m) => `${spec.name}: ${m.location ? `${m.location.file}:${m.location.line}: ` : ''}${m.text}`)
        : [`${spec.name}: ${String(e)}`];
    return { ok: false, problems: msgs, notes: [] };
  }
}

/** Build everything into `outdir`; returns { ok, rows, problems, notes, report }. */
export async function buildAll({ root = ROOT, outdir = join(ROOT, 'dist'), targets = FIRMWARE_TARGETS, hosts = HOST_TARGETS } = {}) {
  const started = performance.now();
  const firmware = await Promise.all(targets.map((t) => buildFirmware(t, { root, outdir })));
  const host = await Promise.all(hosts.map((h) => buildHost(h, { root, outdir })));
  const rows = [];
  const problems = [];
  const notes = [];
  targets.forEach((t, i) => {
    const r = firmware[i];
    problems.push(...r.problems);
    notes.push(...r.notes);
    rows.push({
      bundle: t.name,
      file: t.out,
      kind: t.device ? 'device' : 'firmware',
      target: t.downlevel || t.target,
      ok: r.ok,
      minified: r.minified,
      gzipped: r.gzipped,
      budget: t.device ? budgetOf(t) : undefined,
    });
  });
  hosts.forEach((h, i) => {
    const r = host[i];
    problems.push(...r.problems);
    notes.push(...r.notes);
    if (!r.skipped) rows.push({ bundle: h.name, file: h.out, kind: 'host', target: 'node20', ok: r.ok, minified: r.minified, gzipped: r.gzipped });
  });
  const ok = problems.length === 0;
  const report = { ok, ms: Math.round(performance.now() - started), deviceBudget: DEVICE_BUDGET, bundles: rows, problems, notes };
  mkdirSync(outdir, { recursive: true });
  writeFileSync(join(outdir, 'build-report.json'), JSON.stringify(report, null, 2) + '\n');
  return { ok, rows, problems, notes, report };
}

export function formatTable(rows) {
  const head = ['bundle', 'file', 'target', 'minified', 'gzipped', 'budget'];
  const body = rows.map((r) => [
    r.bundle,
    r.file,
    r.target,
    r.minified === undefined ? '-' : String(r.minified),
    r.gzipped === undefined ? '-' : String(r.gzipped),
    r.budget ? `${((100 * (r.minified || 0)) / r.budget).toFixed(0)}% of ${r.budget}` : '',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells) =>
    cells
      .map((c, i) => (i >= 3 && i <= 4 ? c.padStart(w[i]) : c.padEnd(w[i])))
      .join('  ')
      .trimEnd();
  return [fmt(head), fmt(w.map((n) => '-'.repeat(n))), ...body.map(fmt)].join('\n');
}

async function main() {
  const { ok, rows, problems, notes, report } = await buildAll();
  console.log(formatTable(rows));
  for (const n of notes) console.log(`note: ${n}`);
  console.log(`build ${ok ? 'ok' : 'FAILED'} in ${report.ms} ms; sizes in dist/build-report.json`);
  if (!ok) {
    for (const p of problems) console.error(`error: ${p}`);
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
