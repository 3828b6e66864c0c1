// A simulator whose parent dies without passing on a signal (npm's `npx` on SIGTERM, a SIGKILL) exits with it: no orphaned launcher, simulator or flash lock.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/sim.ts';

const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-parent-exit-'));
const cli = join(ROOT, 'bin', 'tinyhsm.js');
const leftovers: number[] = [];

afterAll(() => {
  for (const pid of leftovers) if (alive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A process that exists and is not a zombie (a container's init may be slow to reap). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

describe.runIf(process.platform === 'linux')('the simulator exits with its parent', () => {
  it('SIGKILL to the process that started `tinyhsm sim --pty` ends the launcher and the simulator, and the flash lock goes', async () => {
    const flash = join(dir, 'dev.img');
    // the parent: starts the simulator as `npx tinyhsm sim` would, says the launcher's pid, then forwards nothing
    const parentJs = `const { spawn } = require('node:child_process');
const c = spawn(process.execPath, [${JSON.stringify(cli)}, 'sim', '--pty', '--json', '--flash', ${JSON.stringify(flash)}], { stdio: ['ignore', 'pipe', 'inherit'] });
process.stdout.write(JSON.stringify({ launcher: c.pid }) + '\\n');
c.stdout.on('data', (b) => process.stdout.write(b));
setInterval(() => {}, 1000);`;
    const parent: ChildProcess = spawn(process.execPath, ['-e', parentJs], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    parent.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    expect(await until(() => /"pty"/.test(out), 20_000), `the simulator printed its pty: ${out}`).toBe(true);
    const launcher = (JSON.parse(out.split('\n')[0]) as { launcher: number }).launcher;
    const simulators = childrenOf(launcher);
    expect(simulators.length, 'the launcher runs the simulator on the pty as its child').toBe(1);
    leftovers.push(launcher, ...simulators);
    expect(existsSync(flash + '.lock')).toBe(true);

    parent.kill('SIGKILL');
    expect(await until(() => !alive(launcher) && !alive(simulators[0]), 10_000), 'launcher and simulator gone').toBe(true);
    expect(existsSync(flash + '.lock'), 'the simulator closed its flash (lock removed)').toBe(false);
  }, 40_000);
});
