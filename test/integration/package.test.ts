// The npm package as a user gets it: `npm pack` (its prepack builds dist/) in a copy of the sources, installed into an empty project, where README's driver example runs unchanged on this Node, the types compile, and `npx tinyhsm` works.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/sim.ts';

const work = mkdtempSync(join(tmpdir(), 'tinyhsm-pack-'));
const src = join(work, 'src');
const app = join(work, 'app');
let tarball = '';

/** What a shell user's environment would be: none of this repository's test settings (no HSM_DEVICE, no TINYHSM_BUNDLE). */
function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, HOME: work, XDG_CONFIG_HOME: join(work, 'config') };
  for (const k of Object.keys(e)) if (k.startsWith('HSM_') || k.startsWith('TINYHSM_') || k.startsWith('VITEST') || k === 'NODE_OPTIONS') delete e[k];
  return e;
}

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: env(), encoding: 'utf8', timeout: 240_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** README's "Using the driver from Node" example: the first js code block of that section, as it is. */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Using the driver from Node'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README.md: no js block under "Using the driver from Node"');
  return m[1];
}

beforeAll(() => {
  // a copy of what the repository holds, so that prepack's build writes its own dist/ and not the one other tests read
  mkdirSync(src);
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.lib.json', 'README.md', 'bin', 'docs', 'firmware', 'host', 'sim', 'tools'])
    cpSync(join(ROOT, f), join(src, f), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(src, 'node_modules'), 'dir');
  run('npm', ['pack', '--pack-destination', work, '--silent'], src);
  tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz')) as string);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // from the cache `npm ci` filled; the registry only for what it lacks
  run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--silent'], app);
}, 300_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the packed package', () => {
  it('holds the compiled driver with types, the simulator, the CLI and the firmware bundles, and no sources or debug bundles', () => {
    const listing = run('tar', ['tzf', tarball], work).stdout.split('\n');
    for (const f of [
      'package/dist/lib/host/index.js',
      'package/dist/lib/host/index.d.ts',
      'package/dist/lib/sim/index.js',
      'package/dist/lib/sim/index.d.ts',
      'package/dist/cli.js',
      'package/dist/tinyhsm-node.js',
      'package/dist/tinyhsm-kaluma.js',
      'package/bin/tinyhsm.js',
      'package/sim/pty-launch.py',
    ])
      expect(listing, f).toContain(f);
    expect(listing.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(listing.filter((f) => f.includes('.debug.js') || f.includes('/test/'))).toEqual([]);
  });

  it("runs README's driver example unchanged: a simulated device in process, a signature node:crypto verifies", () => {
    writeFileSync(join(app, 'example.mjs'), readmeExample());
    const r = run(process.execPath, ['example.mjs'], app);
    expect(r.stdout).toMatch(/^signature verified: true$/m);
  });

  it('types: the driver and tinyhsm/sim compile under nodenext, and a wrong call does not', () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    // a consumer's usual settings (skipLibCheck: its dependencies' declarations are taken as they are)
    const opts = ['--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022'];
    opts.push('--types', 'node', '--typeRoots', join(ROOT, 'node_modules', '@types'));
    writeFileSync(
      join(app, 'use.ts'),
      [
        "import { HsmClient, fileSource, type SignInput } from 'tinyhsm';",
        "import { Simulator } from 'tinyhsm/sim';",
        "const c: HsmClient = await HsmClient.open('sim');",
        "const input: SignInput = { message: fileSource('package.json') };",
        'const sig: Uint8Array = await c.sign(1, input);',
        'export const s: typeof Simulator = Simulator;',
        'export { sig };',
      ].join('\n'),
    );
    run(process.execPath, [tsc, ...opts, 'use.ts'], app);
    writeFileSync(
      join(app, 'wrong.ts'),
      "import { HsmClient } from 'tinyhsm';\nconst c = await HsmClient.open('sim');\nawait c.sign('one', { message: 'text' });\n",
    );
    const bad = spawnSync(process.execPath, [tsc, ...opts, 'wrong.ts'], { cwd: app, encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/wrong\.ts.*error TS2345/);
  });

  it('npx tinyhsm works from the project, outside this repository', () => {
    expect(existsSync(join(app, 'node_modules', '.bin', 'tinyhsm'))).toBe(true);
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(run('npx', ['--no-install', 'tinyhsm', '--version'], app).stdout.trim()).toBe(`tinyhsm ${version} (protocol 1)`);
    const info = JSON.parse(run('npx', ['--no-install', 'tinyhsm', 'info', '--device', 'sim', '--json'], app).stdout);
    expect(info.initialized).toBe(false);
  });
});
