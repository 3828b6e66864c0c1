// Launchers for Espruino 2v29 twins (Linux build, 32-bit, a board's JsVar count) running dist/tinyhsm-espruino.js, for the engine suite.
//
// The binaries come from tools/engines/espruino/build.sh build/engines/espruino. Their stdin/stdout is the board's
// USB CDC, raw binary once the firmware moved the console to LoopbackA (the console then shows on stderr), the flash
// is the file in TINYHSM_FLASH, and at SIGTERM they write {"heap","peak","afterLoad","varSize"} (JsVars) to the file in
// TINYHSM_ENGINE_STATS (tools/engines/espruino/tinyhsm-linux.patch). Where the kernel cannot run 32-bit x86
// programs (no IA32 emulation, e.g. some VMs) they run under qemu-i386-static (Debian qemu-user-static).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildTransport } from './child-transport.ts';
import type { EngineDevice, EngineProfile, EngineStats } from './engine.ts';

const ROOT = join(import.meta.dirname, '..', '..');
export const ESPRUINO_DIR = join(ROOT, 'build', 'engines', 'espruino');
export const ESPRUINO_BUNDLE = join(ROOT, 'dist', 'tinyhsm-espruino.js');
const QEMU = 'qemu-i386-static';

/** How to start a 32-bit binary here: directly, through qemu-i386-static, or not at all (with the reason). */
function launcher(bin: string): { cmd: string; pre: string[] } | string {
  // `--help` prints Espruino's usage on stderr (targets/linux/main.c). execvp hands a binary the kernel refuses
  // (ENOEXEC) to /bin/sh, so a spawn error alone does not tell; the usage text does.
  const runs = (cmd: string, args: string[]) => /Usage/.test(spawnSync(cmd, args, { encoding: 'latin1', stdio: ['ignore', 'ignore', 'pipe'] }).stderr || '');
  if (runs(bin, ['--help'])) return { cmd: bin, pre: [] };
  if (runs(QEMU, [bin, '--help'])) return { cmd: QEMU, pre: [bin] };
  return `${bin} cannot run here (this kernel runs no 32-bit x86 programs) and ${QEMU} is missing (apt-get install qemu-user-static)`;
}

class EspruinoProfile implements EngineProfile {
  readonly name: string;
  private readonly bin: string;
  constructor(readonly vars: number) {
    this.name = `espruino-${vars}`;
    this.bin = join(ESPRUINO_DIR, `espruino-${vars}`);
  }

  unavailable(): string | undefined {
    if (!existsSync(this.bin)) return `${this.bin} is missing: run tools/engines/espruino/build.sh build/engines/espruino`;
    if (!existsSync(ESPRUINO_BUNDLE)) return `${ESPRUINO_BUNDLE} is missing: run npm run build`;
    const l = launcher(this.bin);
    return typeof l === 'string' ? l : undefined;
  }

  async powerOn(opts: { flashFile: string }): Promise<EngineDevice> {
    const l = launcher(this.bin);
    if (typeof l === 'string') throw new Error(l);
    const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-espruino-'));
    const statsFile = join(dir, 'stats.json');
    const child = spawn(l.cmd, [...l.pre, ESPRUINO_BUNDLE], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TINYHSM_FLASH: opts.flashFile, TINYHSM_ENGINE_STATS: statsFile },
    });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString('latin1')));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const transport = new ChildTransport(child, 'binary', `${this.name} (${this.bin})`);
    const name = this.name;
    return {
      transport,
      diagnostics: () => stderr,
      async powerOff(): Promise<EngineStats> {
        await transport.close();
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
        try {
          const s = JSON.parse(readFileSync(statsFile, 'utf8')) as { heap: number; peak: number; afterLoad: number; varSize: number; inUse: number };
          return {
            engine: name,
            unit: 'jsvars',
            heap: s.heap,
            peak: s.peak,
            afterLoad: s.afterLoad >= 0 ? s.afterLoad : undefined,
            extra: { varSize: s.varSize, inUseAtPowerOff: s.inUse },
          };
        } catch (e) {
          throw new Error(`${name} wrote no statistics (${String(e)}); its console said:\n${stderr}`);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  }
}

export const espruino12000: EngineProfile = new EspruinoProfile(12000);
export const espruino8190: EngineProfile = new EspruinoProfile(8190);
export const espruino5100: EngineProfile = new EspruinoProfile(5100);
export const ESPRUINO_PROFILES: EngineProfile[] = [espruino12000, espruino8190, espruino5100];
