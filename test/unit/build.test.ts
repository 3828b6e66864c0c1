// The build's gates (docs/architecture.md §2): bad inputs make it fail with a message naming the culprit; the real bundles exist and fit the device budget.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// @ts-expect-error tools/build.mjs is plain JavaScript without type declarations
import * as build from '../../tools/build.mjs';

const ROOT = join(import.meta.dirname, '..', '..');
/** Temporary entries live under the repository (gitignored /tmp/) so that node_modules resolves as for real entries. */
const TMP = join(ROOT, 'tmp', `build-test-${process.pid}`);

interface Result {
  ok: boolean;
  problems: string[];
  notes: string[];
  code?: string;
  minified?: number;
}

/** Bundle a throw-away entry with the same function the build uses; `spec` overrides the target settings. */
async function tryEntry(name: string, source: string, spec: object = {}): Promise<Result> {
  const entry = join(TMP, `${name}.ts`);
  writeFileSync(entry, source);
  return build.buildFirmware({ name, entry, out: `${name}.js`, target: 'es2020', device: true, minify: true, ...spec }, { root: ROOT });
}

beforeAll(() => mkdirSync(TMP, { recursive: true }));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

describe('build checks reject what must not reach a firmware bundle', () => {
  it('a clean little entry passes (the checks are not always failing)', async () => {
    const r = await tryEntry('clean', `import { crc32 } from '../../firmware/protocol/crc32.ts';\n(globalThis as any).x = crc32(new Uint8Array(3));\n`);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.minified).toBeGreaterThan(0);
  });

  it('node:fs in an entry fails, naming the builtin and the importing file', async () => {
    const r = await tryEntry('uses-node-fs', `import { readFileSync } from 'node:fs';\n(globalThis as any).r = readFileSync;\n`);
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(
      /node builtin 'node:fs' imported by tmp\/build-test-\d+\/uses-node-fs\.ts reaches a firmware bundle; firmware must not import node:\*/,
    );
  });

  it('a bare builtin name ("crypto") counts as node too', async () => {
    const r = await tryEntry('uses-crypto', `import { randomBytes } from 'crypto';\n(globalThis as any).r = randomBytes;\n`);
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/node builtin 'crypto'/);
  });

  it('a file under test/ fails, with who imported it', async () => {
    const r = await tryEntry('uses-test', `import { requestBody } from '../../test/helpers/board-emulation/wire.ts';\n(globalThis as any).r = requestBody;\n`);
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(
      /test\/helpers\/board-emulation\/wire\.ts \(imported by tmp\/build-test-\d+\/uses-test\.ts\) reaches a firmware bundle; firmware must not import test\//,
    );
  });

  it('sim/ and host/ code fail too', async () => {
    const r = await tryEntry('uses-sim', `import { LinkFaults } from '../../sim/link.ts';\n(globalThis as any).r = LinkFaults;\n`);
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/sim\/link\.ts .*must not import sim\//);
  });

  it('Math.random and Date.now in firmware code fail a device bundle, naming the module', async () => {
    const r = await tryEntry('uses-time', `(globalThis as any).a = Math.random();\n(globalThis as any).b = Date.now();\n`);
    expect(r.ok).toBe(false);
    const all = r.problems.join('\n');
    expect(all).toMatch(/Math\.random in tmp\/build-test-\d+\/uses-time\.ts: device code takes time and randomness only from the Env/);
    expect(all).toMatch(/Date\.now in tmp\/build-test-\d+\/uses-time\.ts/);
    // the same source is fine in a non-device firmware bundle (the node bundle is not held to the device rule)
    const r2 = await tryEntry('uses-time-node', `(globalThis as any).a = Math.random();\n`, { device: false, minify: false });
    expect(r2.ok).toBe(true);
  });

  it("@noble/ciphers' AES in a device bundle fails (its tables take ~640 KiB of heap)", async () => {
    const r = await tryEntry('uses-aes', `import { gcm } from '@noble/ciphers/aes.js';\n(globalThis as any).g = gcm;\n`);
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/node_modules\/@noble\/ciphers\/aes\.js .*AES in a device bundle/);
  });

  it('a BigInt literal cannot reach a no-BigInt (Espruino) bundle', async () => {
    // esbuild turns the literal into a BigInt("5") call; the output check rejects any BigInt reference
    const r = await tryEntry('uses-bigint', `(globalThis as any).n = 5n * 3n;\n`, { supported: { bigint: false }, downlevel: 'es5' });
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/uses-bigint: the bundle references BigInt, which this engine does not have/);
    // a literal that somehow survived would be named too
    expect(build.checkNoBigInt('var a = 0x10n + 1;', { bundle: 'x' }).join('\n')).toMatch(/BigInt literal 0x10n/);
    const r2 = await tryEntry('uses-bigint-call', `(globalThis as any).n = BigInt(3);\n`, { supported: { bigint: false }, downlevel: 'es5' });
    expect(r2.ok).toBe(false);
    expect(r2.problems.join('\n')).toMatch(/references BigInt, which this engine does not have/);
    // the word inside a string is fine
    const r3 = await tryEntry('says-bigint', `(globalThis as any).s = 'no BigInt here';\n`, { supported: { bigint: false }, downlevel: 'es5' });
    expect(r3.problems).toEqual([]);
  });

  it('the ES5 downlevel removes default and rest parameters, destructuring and classes', async () => {
    const r = await tryEntry(
      'modern',
      `class A { x = 1; f(a = 2, ...r: number[]) { const { x } = this; return [x, a, ...r]; } }\n(globalThis as any).v = new A().f(undefined, 3, 4);\n`,
      { supported: { bigint: false }, downlevel: 'es5' },
    );
    expect(r.problems).toEqual([]);
    expect(r.code).not.toMatch(/=>|\bclass\b|\.\.\.|\bconst\b|\blet\b/);
    const ctx = { globalThis: undefined as unknown, v: undefined as unknown };
    ctx.globalThis = ctx;
    new Function('globalThis', r.code!)(ctx);
    expect(ctx.v).toEqual([1, 2, 3, 4]);
  });

  it('a device bundle over 160 KiB fails', async () => {
    const big = 'x'.repeat(170 * 1024);
    const r = await tryEntry('too-big', `(globalThis as any).s = ${JSON.stringify(big)};\n`);
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/over the 163840-byte \(160 KiB\) device budget/);
  });
});

describe('the real build', () => {
  it('builds every firmware bundle into a fresh directory, within budget, with a report', async () => {
    const out = join(TMP, 'dist');
    const r = await build.buildAll({ outdir: out, hosts: [] });
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    const report = JSON.parse(readFileSync(join(out, 'build-report.json'), 'utf8'));
    for (const name of ['node', 'generic', 'kaluma', 'espruino']) {
      const row = report.bundles.find((b: { bundle: string }) => b.bundle === name);
      expect(row, name).toBeDefined();
      expect(statSync(join(out, row.file)).size).toBe(row.minified);
      if (name !== 'node') expect(row.minified).toBeLessThanOrEqual(row.budget);
      if (name !== 'node') expect(row.budget).toBe(build.budgetOf(build.FIRMWARE_TARGETS.find((t: { name: string }) => t.name === name)));
    }
    const espruino = readFileSync(join(out, 'tinyhsm-espruino.js'), 'utf8');
    expect(build.checkNoBigInt(espruino, { bundle: 'espruino' })).toEqual([]);
    // the curve code really is in the BigInt bundles (so the check above means something)
    expect(readFileSync(join(out, 'tinyhsm-kaluma.js'), 'utf8')).toMatch(/BigInt/);
  });

  it('dist/ (from `npm run build`) has every bundle, each device bundle within its budget (160 KiB; generic and Kaluma 192 KiB)', () => {
    const dist = join(ROOT, 'dist');
    expect(existsSync(join(dist, 'build-report.json')), 'run `npm run build` first').toBe(true);
    for (const t of build.FIRMWARE_TARGETS) {
      const file = join(dist, t.out);
      expect(existsSync(file), `${file} (run \`npm run build\`)`).toBe(true);
      if (t.device) expect(statSync(file).size).toBeLessThanOrEqual(t.name.startsWith('kaluma') || t.name === 'generic' ? 192 * 1024 : 160 * 1024);
    }
  });
});
