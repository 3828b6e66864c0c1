// Engine profiles for Kaluma 1.2 / JerryScript 2.4: the Linux twins of the Pico (180 KB) and Pico 2 (256 KB), upload and image forms (tools/engines/kaluma/build.sh).
//
// Each board has its bundle: the Pico 2 dist/tinyhsm-kaluma.js, the Pico dist/tinyhsm-kaluma-pico.js.
// 'upload': stock Kaluma with the bundle uploaded (parsed from text into the JS heap; REPL on the link, 0x03 stops the
// program). 'image': the bundle compiled in as a static snapshot run in place at boot (no REPL, 0x03 is data).
// The twins' stdin/stdout is the board's USB CDC; the flash is a file; at SIGTERM the twin writes one JSON line of
// jerry_get_memory_stats figures to $TINYHSM_ENGINE_STATS and exits (tools/engines/kaluma/port/stats.c).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChildTransport } from './child-transport.ts';
import type { EngineDevice, EngineProfile, EngineStats } from './engine.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const KALUMA_BUILD_DIR = join(ROOT, 'build', 'engines', 'kaluma');
/** The Pico 2's bundle (256 KB heap) and the Pico's (180 KB). */
export const KALUMA_BUNDLE = join(ROOT, 'dist', 'tinyhsm-kaluma.js');
export const KALUMA_PICO_BUNDLE = join(ROOT, 'dist', 'tinyhsm-kaluma-pico.js');
const BUILD_HINT = 'npm run build && npm run engines';

/** The statistics line the twin writes (port/stats.c). */
interface TwinStats {
  heap: number;
  peak: number;
  afterLoad?: number;
  allocated: number;
  fatal?: string;
}

/** A profile for one twin: heap 180 or 256 KB, 'upload' or 'image'. */
export function kalumaProfile(
  heapKb: 180 | 256,
  form: 'upload' | 'image',
  buildDir = KALUMA_BUILD_DIR,
  bundle = heapKb === 256 ? KALUMA_BUNDLE : KALUMA_PICO_BUNDLE,
): EngineProfile {
  const name = `kaluma-${heapKb}-${form}`;
  const binary = join(buildDir, form === 'image' ? `kaluma-${heapKb}-image` : `kaluma-${heapKb}`);
  return {
    name,
    unavailable() {
      if (!existsSync(binary) || !existsSync(binary + '.elf')) return `${name}: ${binary} is not built (${BUILD_HINT})`;
      if (form === 'upload' && !existsSync(bundle)) return `${name}: ${bundle} is missing (npm run build)`;
      return undefined;
    },
    async powerOn({ flashFile }): Promise<EngineDevice> {
      const why = this.unavailable();
      if (why) throw new Error(why);
      const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-kaluma-'));
      const statsFile = join(dir, 'stats.json');
      const args = form === 'upload' ? [bundle] : [];
      const child = spawn(binary, args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, TINYHSM_FLASH: flashFile, TINYHSM_ENGINE_STATS: statsFile },
      });
      // what the board printed outside frames (banner, REPL, errors) and the engine's stderr, for failure messages
      let text = '';
      const keep = (b: Buffer): void => {
        text += b.toString('latin1').replace(/^\*[A-Za-z0-9+/=]*\r?\n?/gm, '');
        if (text.length > 16384) text = text.slice(-16384);
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      const exited = new Promise<void>((res) => child.once('exit', () => res()));
      const transport = new ChildTransport(child, 'armor', name);
      return {
        transport,
        diagnostics: () => text,
        async powerOff(): Promise<EngineStats> {
          await transport.close();
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
          try {
            return toEngineStats(name, readStats(statsFile));
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        },
      };
    },
  };
}

function readStats(file: string): TwinStats {
  if (!existsSync(file)) throw new Error(`the engine wrote no statistics (${file})`);
  return JSON.parse(readFileSync(file, 'utf8')) as TwinStats;
}

function toEngineStats(engine: string, s: TwinStats): EngineStats {
  const extra: Record<string, number | string> = { allocatedAtExit: s.allocated };
  if (s.fatal) extra.fatal = s.fatal;
  return { engine, unit: 'bytes', heap: s.heap, peak: s.peak, afterLoad: s.afterLoad, extra };
}

export const kaluma256Upload = kalumaProfile(256, 'upload');
export const kaluma180Upload = kalumaProfile(180, 'upload');
export const kaluma256Image = kalumaProfile(256, 'image');
export const kaluma180Image = kalumaProfile(180, 'image');
export const KALUMA_PROFILES: EngineProfile[] = [kaluma256Upload, kaluma180Upload, kaluma256Image, kaluma180Image];
