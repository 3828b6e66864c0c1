// Citations point into the repository: no source, test or doc cites the issue tracker or the design document, which a clone does not have (docs/architecture.md is where the design lives; cite a docs/*.md section instead).
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

// Built from pieces so that this file does not match its own patterns.
const TRACKER = 'iss' + 'ue';
const DESIGN_DOC = 'DES' + 'IGN' + '.md';
const PATTERNS: readonly RegExp[] = [
  // "<tracker word> 4", "<tracker word> 4 §3", "<tracker word>s 2 §3, 3 §4", "<tracker word> #12", any case. An upstream
  // project's tracker is cited by its URL (…/issues/123), which does not match.
  new RegExp('\\b' + TRACKER + 's?\\s+#?\\d+', 'i'),
  new RegExp(DESIGN_DOC.replace('.', '\\.'), 'i'),
];

const CODE_DIRS = ['firmware', 'host', 'sim', 'tools', 'bin', 'test'];
const SKIP_DIRS = new Set(['node_modules', 'dist', 'build']);
const CODE_FILE = /\.(ts|mjs|js)$/;

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (!SKIP_DIRS.has(name)) walk(p, out);
    } else if (CODE_FILE.test(name)) out.push(p);
  }
}

/** Every file the rule covers, relative to the repository root. */
function scannedFiles(): string[] {
  const out: string[] = [];
  for (const d of CODE_DIRS) walk(join(ROOT, d), out);
  for (const name of readdirSync(ROOT)) if (CODE_FILE.test(name) && statSync(join(ROOT, name)).isFile()) out.push(join(ROOT, name));
  for (const name of readdirSync(join(ROOT, 'docs'))) if (name.endsWith('.md')) out.push(join(ROOT, 'docs', name));
  out.push(join(ROOT, 'README.md'));
  return out.map((p) => relative(ROOT, p)).sort();
}

/** `file:line: text` for every line of `text` that cites the tracker or the design document. */
function citationFindings(file: string, text: string): string[] {
  const out: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (PATTERNS.some((re) => re.test(line))) out.push(file + ':' + (i + 1) + ': ' + line.trim());
  });
  return out;
}

describe('citations point into the repository', () => {
  const files = scannedFiles();

  it('scans the sources, the tests, the docs and the README, this file included', () => {
    expect(files.length).toBeGreaterThan(200);
    for (const f of [
      'firmware/core/device.ts',
      'host/client.ts',
      'sim/simulator.ts',
      'tools/build.mjs',
      'bin/tinyhsm.js',
      'test/protocol/citations.test.ts',
      'docs/architecture.md',
      'docs/storage.md',
      'README.md',
    ])
      expect(files).toContain(f);
    expect(files.some((f) => f.split('/').some((part) => SKIP_DIRS.has(part)))).toBe(false);
  });

  it('no file cites an issue number or the design document: cite a docs/*.md section instead', () => {
    const all = files.flatMap((f) => citationFindings(f, readFileSync(join(ROOT, f), 'utf8')));
    expect(all).toEqual([]);
  });

  it('the checker itself catches what it is meant to catch', () => {
    const text = [
      '// Rules (' + TRACKER + ' 3 §4, §6):',
      ' * ' + TRACKER.toUpperCase() + ' 4 §1: sessions',
      '// INFO (' + TRACKER + 's 2 §3, 3 §4)',
      "it('lockout (" + TRACKER + " #12)', () => {",
      '// NOR rules (' + DESIGN_DOC + ' "Storage")',
      'See ' + DESIGN_DOC.toLowerCase() + '.',
      '// fine: docs/security.md §4, an ' + TRACKER + ' with the link, ' + TRACKER + 's/123 in a URL, 4 ' + TRACKER + 's',
      'const design = "DESIGN";',
    ].join('\n');
    expect(citationFindings('probe.ts', text).map((f) => f.split(':').slice(0, 2).join(':'))).toEqual([
      'probe.ts:1',
      'probe.ts:2',
      'probe.ts:3',
      'probe.ts:4',
      'probe.ts:5',
      'probe.ts:6',
    ]);
  });
});
