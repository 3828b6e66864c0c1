// firmware/protocol obeys the device rules (docs/architecture.md §2–§3): imports nothing outside itself, no I/O or clock, no syntax JerryScript lacks.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, dirname, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { tsFiles } from '../helpers/files.ts';

const ROOT = fileURLToPath(new URL('../../firmware/protocol/', import.meta.url));

interface Finding {
  file: string;
  line: number;
  what: string;
}

/** Walk the syntax tree (not the text, so comments and strings cannot cause false alarms). */
function findings(file: string, text = readFileSync(file, 'utf8')): Finding[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2020, true, ts.ScriptKind.TS);
  const out: Finding[] = [];
  const at = (n: ts.Node, what: string) => out.push({ file: relative(ROOT, file), line: sf.getLineAndCharacterOfPosition(n.getStart()).line + 1, what });
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) {
      const spec = n.moduleSpecifier;
      if (spec && ts.isStringLiteral(spec)) {
        const target = resolve(dirname(file), spec.text);
        if (!spec.text.startsWith('.')) at(n, 'imports a package or builtin: ' + spec.text);
        else if (relative(ROOT, target).startsWith('..')) at(n, 'imports outside firmware/protocol: ' + spec.text);
        else if (!spec.text.endsWith('.ts')) at(n, 'relative import without .ts: ' + spec.text);
      }
    }
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) at(n, 'dynamic import');
    if (
      ts.isBinaryExpression(n) &&
      (n.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken || n.operatorToken.kind === ts.SyntaxKind.QuestionQuestionEqualsToken)
    )
      at(n, '?? (JerryScript target es2019)');
    if ((ts.isPropertyAccessExpression(n) || ts.isElementAccessExpression(n) || ts.isCallExpression(n)) && n.questionDotToken)
      at(n, '?. (JerryScript target es2019)');
    if (ts.isPrivateIdentifier(n)) at(n, '#private (JerryScript target es2019)');
    if (ts.isPropertyAccessExpression(n)) {
      const s = n.getText(sf).replace(/\s/g, '');
      for (const bad of ['Object.hasOwn', 'Date.now', 'Math.random', 'performance.now', 'process.', 'globalThis.', 'console.', 'crypto.getRandomValues'])
        if (s === bad.replace(/\.$/, '') || s.startsWith(bad)) at(n, s);
    }
    if (ts.isNewExpression(n) && n.expression.getText(sf) === 'Date') at(n, 'new Date');
    if (ts.isIdentifier(n) && ['require', 'Buffer', 'TextEncoder', 'TextDecoder', 'setTimeout', 'setInterval', 'atob', 'btoa'].includes(n.text)) {
      // an identifier that is a property name (x.Buffer) or a declaration of our own is fine
      const p = n.parent;
      if (!(ts.isPropertyAccessExpression(p) && p.name === n)) at(n, 'global ' + n.text + ' (not on every engine)');
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe('firmware/protocol source rules', () => {
  const files = tsFiles(ROOT);

  it('finds the protocol sources', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it('imports only its own files, uses no I/O, clock, randomness or engine-specific globals, and no ?. ?? #private Object.hasOwn', () => {
    const all = files.flatMap((f) => findings(f));
    expect(all).toEqual([]);
  });

  it('each file opens with a one-line comment on its purpose', () => {
    for (const f of files) expect(readFileSync(f, 'utf8').split('\n')[0], relative(ROOT, f)).toMatch(/^\/\/ \S.{10,}/);
  });

  it('the checker itself catches what it is meant to catch', () => {
    const probe = join(ROOT, 'messages', 'probe.ts');
    const text = [
      "import { x } from 'node:fs';",
      "import y from '../../host/z.ts';",
      "import w from './limits';",
      'const a = b ?? c;',
      'const d = e?.f;',
      'const t = Date.now() + Math.random();',
      'const n = new Date();',
      'const h = Object.hasOwn(a, d);',
      'class K { #p = 1; }',
      'const u = new TextEncoder();',
      '// comments may say ?. and ?? and Date.now() freely',
      "const s = 'strings too: a ?? b, Math.random()';",
    ].join('\n');
    const whats = findings(probe, text).map((f) => f.what);
    expect(whats).toEqual([
      'imports a package or builtin: node:fs',
      'imports outside firmware/protocol: ../../host/z.ts',
      'relative import without .ts: ./limits',
      '?? (JerryScript target es2019)',
      '?. (JerryScript target es2019)',
      'Date.now',
      'Math.random',
      'new Date',
      'Object.hasOwn',
      '#private (JerryScript target es2019)',
      'global TextEncoder (not on every engine)',
    ]);
  });
});
