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

/** What Espruino prints on the old console when a program moves the console to LoopbackA. */
const CONSOLE_MOVED = '-> LoopbackA';
/** Loading the bundle takes about a second in the twin under qemu; a hung load is reported after this. */
const LOAD_TIMEOUT_MS = 60_000;

/** The twin's statistics line (tools/engines/espruino/tinyhsm-linux.patch, targets/linux/main.c). */
interface TwinStats {
  heap: number;
  peak: number;
  afterLoad: number;
  varSize: number;
  inUse: number;
}

function readStatsFile(file: string): TwinStats | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as TwinStats;
  } catch (e) {
    return undefined;
  }
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** One twin (a board's JsVar count) running a bundle: dist/tinyhsm-espruino.js unless another is given (measurements). */
export class EspruinoProfile implements EngineProfile {
  readonly name: string;
  private readonly bin: string;
  constructor(
    readonly vars: number,
    readonly bundle: string = ESPRUINO_BUNDLE,
  ) {
    this.name = `espruino-${vars}`;
    this.bin = join(ESPRUINO_DIR, `espruino-${vars}`);
  }

  unavailable(): string | undefined {
    if (!existsSync(this.bin)) return `${this.bin} is missing: run tools/engines/espruino/build.sh build/engines/espruino`;
    if (!existsSync(this.bundle)) return `${this.bundle} is missing: run npm run build`;
    const l = launcher(this.bin);
    return typeof l === 'string' ? l : undefined;
  }

  /**
   * Run a program (a file of JavaScript) in this twin with its stdin at end of file: the console stays on USB, so what
   * the program prints comes back as `stdout`; the twin powers off once the program and its timers are done.
   */
  async runScript(file: string, timeoutMs = 60_000): Promise<{ stdout: string; stderr: string; stats: TwinStats | undefined; code: number | null }> {
    const l = launcher(this.bin);
    if (typeof l === 'string') throw new Error(l);
    const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-espruino-'));
    const statsFile = join(dir, 'stats.json');
    try {
      const child = spawn(l.cmd, [...l.pre, file], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TINYHSM_FLASH: join(dir, 'flash.img'), TINYHSM_ENGINE_STATS: statsFile },
      });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (b: Buffer) => (stdout += b.toString('latin1')));
      child.stderr!.on('data', (b: Buffer) => (stderr += b.toString('latin1')));
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
        child.on('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      return { stdout, stderr, stats: readStatsFile(statsFile), code };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async powerOn(opts: { flashFile: string }): Promise<EngineDevice> {
    const l = launcher(this.bin);
    if (typeof l === 'string') throw new Error(l);
    const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-espruino-'));
    const statsFile = join(dir, 'stats.json');
    const child = spawn(l.cmd, [...l.pre, this.bundle], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TINYHSM_FLASH: opts.flashFile, TINYHSM_ENGINE_STATS: statsFile },
    });
    // Until the firmware moves the console off USB, Espruino's REPL reads (and would execute) whatever the host sends,
    // and Espruino says so on the old console: `-> LoopbackA` (src/jswrap_serial.c, setConsole). The rest of the boot
    // (self-tests, the flash store) runs after that, before the data handler is registered; the twin says on stderr
    // when the program's top level is done (tinyhsm-linux.patch, main.c). The launcher waits for both, so that a
    // request is neither eaten by the REPL nor timed against the boot. A board's host retries instead.
    let text = '';
    let stdoutText = '';
    const keep = (b: Buffer): void => {
      text += b.toString('latin1');
      if (text.length > 16384) text = text.slice(-16384);
    };
    let readyResolve: () => void = () => {};
    const ready = new Promise<void>((resolve) => (readyResolve = resolve));
    let moved = false;
    let loaded = false;
    child.stderr!.on('data', (b: Buffer) => {
      keep(b);
      if (!loaded && /tinyhsm-twin: loaded/.test(text)) {
        loaded = true;
        if (moved) readyResolve();
      }
    });
    child.stdout!.on('data', (b: Buffer) => {
      if (moved) return; // from here on stdout carries frames only
      stdoutText += b.toString('latin1');
      if (stdoutText.includes(CONSOLE_MOVED)) {
        moved = true;
        keep(Buffer.from(stdoutText, 'latin1'));
        if (loaded) readyResolve();
      }
    });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const transport = new ChildTransport(child, 'binary', `${this.name} (${this.bin})`);
    const name = this.name;
    const started = await Promise.race([ready.then(() => true), exited.then(() => false), delay(LOAD_TIMEOUT_MS).then(() => false)]);
    if (!started) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      const stats = readStatsFile(statsFile);
      rmSync(dir, { recursive: true, force: true });
      const what = !moved ? `did not take the link (no "${CONSOLE_MOVED}")` : 'did not finish loading';
      throw new Error(
        `${name}: the firmware ${what} within ${LOAD_TIMEOUT_MS} ms or before the engine exited` +
          (stats ? `; JsVars ${JSON.stringify(stats)}` : '') +
          `; the engine printed:\n${(moved ? text : stdoutText + text).slice(-4000)}`,
      );
    }
    return {
      transport,
      diagnostics: () => text,
      async powerOff(): Promise<EngineStats> {
        await transport.close();
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
        try {
          const s = JSON.parse(readFileSync(statsFile, 'utf8')) as TwinStats;
          return {
            engine: name,
            unit: 'jsvars',
            heap: s.heap,
            peak: s.peak,
            afterLoad: s.afterLoad >= 0 ? s.afterLoad : undefined,
            extra: { varSize: s.varSize, inUseAtPowerOff: s.inUse },
          };
        } catch (e) {
          throw new Error(`${name} wrote no statistics (${String(e)}); its console said:\n${text}`);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  }
}

export const espruino12000 = new EspruinoProfile(12000);
export const espruino8190 = new EspruinoProfile(8190);
export const espruino5100 = new EspruinoProfile(5100);
export const ESPRUINO_PROFILES: EngineProfile[] = [espruino12000, espruino8190, espruino5100];
