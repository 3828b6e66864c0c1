// firmware/core and the noble HAL obey the device rules (docs/architecture.md §2–§3): no I/O, clock, globals, or syntax JerryScript lacks.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, dirname, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { tsFiles } from '../helpers/files.ts';
import { Command } from '../../firmware/protocol/codes.ts';

const FIRMWARE = fileURLToPath(new URL('../../firmware/', import.meta.url));
const CORE = join(FIRMWARE, 'core');
const HAL_FILES = ['crypto_noble.ts', 'global_crypto.ts', 'symmetric.ts', 'chacha20poly1305.ts'].map((f) => join(FIRMWARE, 'hal', f));

/** Where a file may import from: core → protocol, hal/index.ts (types) and core; the HAL files → noble and hal/. */
function importAllowed(file: string, spec: string): boolean {
  if (!spec.startsWith('.')) return file.startsWith(join(FIRMWARE, 'hal')) && spec.startsWith('@noble/');
  if (!spec.endsWith('.ts')) return false;
  const target = relative(FIRMWARE, resolve(dirname(file), spec));
  if (file.startsWith(CORE)) return target.startsWith('core/') || target.startsWith('protocol/') || target === 'hal/index.ts';
  return target.startsWith('hal/');
}

function findings(file: string, text = readFileSync(file, 'utf8')): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2020, true, ts.ScriptKind.TS);
  const out: string[] = [];
  const where = relative(FIRMWARE, file);
  const at = (n: ts.Node, what: string) => out.push(where + ':' + (sf.getLineAndCharacterOfPosition(n.getStart()).line + 1) + ' ' + what);
  const isShim = where === 'hal/global_crypto.ts'; // its whole purpose is to touch globalThis.crypto
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier))
      if (!importAllowed(file, n.moduleSpecifier.text)) at(n, 'import ' + n.moduleSpecifier.text);
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) at(n, 'dynamic import');
    if (
      ts.isBinaryExpression(n) &&
      (n.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken || n.operatorToken.kind === ts.SyntaxKind.QuestionQuestionEqualsToken)
    )
      at(n, '??');
    if ((ts.isPropertyAccessExpression(n) || ts.isElementAccessExpression(n) || ts.isCallExpression(n)) && n.questionDotToken) at(n, '?.');
    if (ts.isPrivateIdentifier(n)) at(n, '#private');
    if (ts.isPropertyAccessExpression(n)) {
      const s = n.getText(sf).replace(/\s/g, '');
      for (const bad of [
        'Object.hasOwn',
        'Date.now',
        'Math.random',
        'performance.now',
        'process.',
        'console.',
        ...(isShim ? [] : ['globalThis.', 'crypto.getRandomValues']),
      ])
        if (s === bad.replace(/\.$/, '') || s.startsWith(bad)) at(n, s);
    }
    if (ts.isNewExpression(n) && n.expression.getText(sf) === 'Date') at(n, 'new Date');
    if (
      ts.isIdentifier(n) &&
      ['require', 'Buffer', 'TextEncoder', 'TextDecoder', 'setTimeout', 'setInterval', 'atob', 'btoa', ...(isShim ? [] : ['globalThis'])].includes(n.text)
    ) {
      const p = n.parent;
      if (!(ts.isPropertyAccessExpression(p) && p.name === n)) at(n, 'global ' + n.text);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe('firmware/core and the noble HAL follow the device rules', () => {
  const files = [...tsFiles(CORE), ...HAL_FILES];

  it('finds the sources, one file per command', () => {
    const cmds = tsFiles(join(CORE, 'commands'))
      .map((f) => f.slice(f.lastIndexOf('/') + 1))
      .sort();
    // exactly one file per code in the command table (codes.ts), named after it: INIT → init.ts, KEY_SET_POLICY → key_set_policy.ts
    expect(cmds).toEqual(
      Object.keys(Command)
        .map((n) => n.toLowerCase() + '.ts')
        .sort(),
    );
    expect(cmds.length).toBeGreaterThanOrEqual(20);
  });

  it('no forbidden imports, I/O, clock, randomness, globals, ?. ?? #private or Object.hasOwn', () => {
    expect(files.flatMap((f) => findings(f))).toEqual([]);
  });

  it('each file opens with a one-line comment on its purpose', () => {
    for (const f of files) expect(readFileSync(f, 'utf8').split('\n')[0], relative(FIRMWARE, f)).toMatch(/^\/\/ \S.{10,}/);
  });

  it('the checker catches what it is meant to catch', () => {
    const probe = join(CORE, 'probe.ts');
    const text = [
      "import { x } from 'node:fs';",
      "import h from '../../host/z.ts';",
      "import c from '../hal/crypto_noble.ts';",
      'const a = b ?? c;',
      'const d = e?.f;',
      'const t = Date.now() + Math.random();',
      'const g = globalThis.crypto;',
      "// comments may say ?. and Date.now() freely; 'strings too: a ?? b'",
    ].join('\n');
    expect(findings(probe, text).map((s) => s.replace(/^\S+ /, ''))).toEqual([
      'import node:fs',
      'import ../../host/z.ts',
      'import ../hal/crypto_noble.ts',
      '??',
      '?.',
      'Date.now',
      'Math.random',
      'globalThis.crypto',
      'global globalThis',
    ]);
  });
});
