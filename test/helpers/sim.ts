// Test helpers for the simulator level (test/helpers/devices.ts): a fresh node firmware bundle, simulators in-process with clients, and `tinyhsm sim` child processes, initialized with test PINs unless asked not to.
import { spawn, type ChildProcess } from 'node:child_process';
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { afterAll, afterEach, expect } from 'vitest';
import { Simulator, type SimulatorOptions } from '../../sim/simulator.ts';
import { HsmClient, type ClientOptions, type OpenOptions } from '../../host/client.ts';
import { InProcessTransport } from '../../host/transports/inprocess.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The PINs these helpers give a simulator they initialize (the same texts as test/helpers/loopback.ts uses), and the
 * environment that makes the CLI log in with them (HSM_PIN, HSM_SO_PIN; docs/security.md §2).
 */
export const SIM_USER_PIN = 'test-user-pin-0001';
export const SIM_SO_PIN = 'test-so-pin-0002';
export const SIM_LABEL = 'test';
/** HsmClient option: log in as user with SIM_USER_PIN, and again in every new session (ClientOptions.login). */
export const SIM_LOGIN = { role: 'user' as const, pin: SIM_USER_PIN };
export const SIM_SO_LOGIN = { role: 'so' as const, pin: SIM_SO_PIN };
export const SIM_PIN_ENV: NodeJS.ProcessEnv = { HSM_PIN: SIM_USER_PIN, HSM_SO_PIN: SIM_SO_PIN };

/**
 * Run `fn` with `client` logged in as the SO with SIM_SO_PIN (KEY_IMPORT is the SO's, docs/security.md §2), then log it
 * back in as the user with SIM_USER_PIN: login() drops the session's role first (LOGOUT), one role per session (§1).
 */
export async function asSo<T>(client: HsmClient, fn: () => Promise<T>): Promise<T> {
  await client.login('so', SIM_SO_PIN);
  try {
    return await fn();
  } finally {
    await client.login('user', SIM_USER_PIN);
  }
}

/**
 * INIT the device at `device` (a pty, 'unix:PATH' or 'armor:PATH') with SIM_USER_PIN / SIM_SO_PIN unless INFO says it
 * already is. Pins its identity in memory only, so no known-devices file is touched. Returns whether it initialized.
 */
export async function initDevice(device: string, opts: OpenOptions = {}): Promise<boolean> {
  const client = await HsmClient.open(device, { knownDevices: null, closeOnExit: false, ...opts });
  try {
    if ((await client.info()).initialized) return false;
    await client.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN, label: SIM_LABEL });
    return true;
  } finally {
    await client.close();
  }
}
/**
 * Tests never touch the user's real known-devices file (docs/session.md §9): every test process that imports these
 * helpers pins devices in a file of its own, and the CLI and simulators it spawns inherit it through the environment.
 * A test that needs a clean file makes one with freshKnownDevices().
 */
const knownDirs = [mkdtempSync(join(tmpdir(), 'tinyhsm-known-'))];
process.env.HSM_KNOWN_DEVICES = join(knownDirs[0], 'known-devices.json');
// registered while the importing test file is collected, so it runs after that file's tests
afterAll(() => {
  for (const d of knownDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A new, empty known-devices path (its directory exists, the file does not yet); removed after the test file. */
export function freshKnownDevices(): string {
  const d = mkdtempSync(join(tmpdir(), 'tinyhsm-known-'));
  knownDirs.push(d);
  return join(d, 'known-devices.json');
}

/** Where these helpers build what `npm run build` has not (gitignored: /tmp/ at the repository root). */
const BUILD_DIR = join(ROOT, 'tmp', 'sim-test-build');

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestMtime(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

function freshOutput(candidates: string[], sourceTime: number): string | undefined {
  for (const c of candidates) if (existsSync(c) && statSync(c).mtimeMs >= sourceTime) return c;
  return undefined;
}

/** Build with esbuild to a temporary name, then rename: parallel test workers never see half a file. */
async function buildTo(out: string, options: esbuild.BuildOptions): Promise<string> {
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.${Date.now()}.tmp`;
  await esbuild.build({ ...options, bundle: true, outfile: tmp, logLevel: 'silent', absWorkingDir: ROOT });
  renameSync(tmp, out);
  return out;
}

/**
 * Path of a node firmware bundle built from the current firmware sources: dist/tinyhsm-node.js when
 * `npm run build` made it after the last source change, otherwise one built here with the same settings
 * as tools/build.mjs (iife, platform neutral, es2020).
 */
export async function nodeBundle(): Promise<string> {
  const srcTime = newestMtime(join(ROOT, 'firmware'));
  const hit = freshOutput([join(ROOT, 'dist', 'tinyhsm-node.js'), join(BUILD_DIR, 'tinyhsm-node.js')], srcTime);
  if (hit) return hit;
  return buildTo(join(BUILD_DIR, 'tinyhsm-node.js'), {
    entryPoints: [join(ROOT, 'firmware/platform/node/entry.ts')],
    format: 'iife',
    platform: 'neutral',
    target: 'es2020',
    mainFields: ['module', 'main'],
    conditions: ['import', 'default'],
  });
}

/**
 * The command that runs the real CLI (`tinyhsm`): bin/tinyhsm.js when dist/cli.js is newer than every
 * source it bundles; otherwise tools/cli.ts bundled here (as tools/build.mjs does: ESM for Node, packages
 * external). The output stays inside the repository so the CLI finds sim/pty-launch.py and dist/ by walking up.
 */
export async function cliCommand(): Promise<string[]> {
  const srcTime = Math.max(...['tools', 'sim', 'host', 'firmware'].map((d) => newestMtime(join(ROOT, d))));
  const dist = join(ROOT, 'dist', 'cli.js');
  if (existsSync(join(ROOT, 'bin', 'tinyhsm.js')) && freshOutput([dist], srcTime)) return [join(ROOT, 'bin', 'tinyhsm.js')];
  const out = join(BUILD_DIR, 'cli.js');
  if (!freshOutput([out], srcTime)) {
    await buildTo(out, { entryPoints: [join(ROOT, 'tools/cli.ts')], format: 'esm', platform: 'node', target: 'node20', packages: 'external' });
  }
  // the same contract as bin/tinyhsm.js: main(argv) resolves with the exit code
  const runner = join(BUILD_DIR, 'tinyhsm.mjs');
  if (!existsSync(runner)) {
    const tmp = `${runner}.${process.pid}.tmp`;
    writeFileSync(tmp, "import { main } from './cli.js';\nprocess.exitCode = await main(process.argv.slice(2));\n");
    renameSync(tmp, runner);
  }
  return [runner];
}

export interface InProcessHandle {
  sim: Simulator;
  client: HsmClient;
  close(): Promise<void>;
}

/** A Simulator on the current node bundle in this process, logging nothing (the one way these helpers make one). */
async function newSimulator(simOpts: SimulatorOptions): Promise<Simulator> {
  return new Simulator({ bundlePath: await nodeBundle(), log: () => {}, ...simOpts });
}

/**
 * A simulator in this process and a client on it. `setup` (default 'user'): 'none' leaves a factory-new device as it
 * is; 'init' INITs it with SIM_USER_PIN / SIM_SO_PIN (unless it already is, e.g. a flash that was initialized); 'user'
 * and 'so' also log the client in with that role, and the client logs in again by itself in every new session.
 */
export async function startInProcess(
  simOpts: SimulatorOptions = {},
  clientOpts: ClientOptions = {},
  setup: 'none' | 'init' | 'user' | 'so' = 'user',
): Promise<InProcessHandle> {
  const sim = await newSimulator(simOpts);
  const client = new HsmClient(new InProcessTransport(sim, true), clientOpts);
  if (setup !== 'none') {
    if (!(await client.info()).initialized) await client.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN, label: SIM_LABEL });
    if (setup === 'user') await client.login('user', SIM_USER_PIN);
    if (setup === 'so') await client.login('so', SIM_SO_PIN);
  }
  return { sim, client, close: () => client.close() };
}

export interface InProcessSims {
  /** A simulator, INITed with SIM_USER_PIN / SIM_SO_PIN (by a client of its own, closed again) unless `init` is false. */
  boot(opts?: SimulatorOptions, init?: { label?: string } | false): Promise<Simulator>;
  /** `c`, closed after the test. */
  track(c: HsmClient): HsmClient;
  /** A client on `sim`'s in-process link, closed after the test. */
  client(sim: Simulator, opts?: ClientOptions): HsmClient;
}

/**
 * Simulators in this process and HsmClients on them, for the host-library tests. Call at the top of a test file: it
 * registers the afterEach that closes what each test made, and a simulator must end its test without a device fault.
 */
export function inProcessSims(): InProcessSims {
  const sims: Simulator[] = [];
  const clients: HsmClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    for (const s of sims.splice(0)) {
      expect(s.deviceFaults).toEqual([]);
      s.close();
    }
  });
  const track = (c: HsmClient): HsmClient => {
    clients.push(c);
    return c;
  };
  return {
    async boot(opts: SimulatorOptions = {}, init: { label?: string } | false = {}): Promise<Simulator> {
      const sim = await newSimulator(opts);
      sims.push(sim);
      if (init !== false) {
        const c = new HsmClient(new InProcessTransport(sim, false));
        await c.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN, label: init.label });
        await c.close();
      }
      return sim;
    },
    track,
    client: (sim, opts = {}) => track(new HsmClient(new InProcessTransport(sim, false), opts)),
  };
}

export interface SimProcess {
  child: ChildProcess;
  /** The first line the simulator printed, parsed ({"pty": …} or {"socket": …}). */
  json: { pty?: string; socket?: string };
  /** stderr so far (for failure messages). */
  stderr(): string;
  /** Resolves with how the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Send a signal (default SIGTERM) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Press the simulated button (a line `press` on the simulator's standard input; docs/security.md §7). */
  press(): void;
  /** The address HsmClient.open takes: the pty (armor:PTY with --armor) or unix:SOCKET. */
  device: string;
}

/**
 * Spawn `tinyhsm sim <args> --json` and wait for its first JSON line. `cli` overrides the CLI script
 * (e.g. dist/cli.js run directly); by default cliCommand() picks it. `init` (default: true unless the simulator is
 * to cut its power, `--power-cut-after`) INITs a factory-new device with SIM_USER_PIN / SIM_SO_PIN (initDevice),
 * so a test can log in as before; pass false for a factory-new device.
 */
export async function spawnSim(args: string[], opts: { env?: NodeJS.ProcessEnv; cli?: string; init?: boolean } = {}): Promise<SimProcess> {
  const bundle = await nodeBundle();
  const cmd = opts.cli ? [opts.cli] : await cliCommand();
  const env = opts.env || {};
  const child = spawn(process.execPath, [...cmd, 'sim', ...args, '--json'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, TINYHSM_BUNDLE: bundle, ...env },
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const rl = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((res, rej) => {
    rl.once('line', res);
    exited.then(({ code, signal }) => rej(new Error(`tinyhsm sim exited (${code ?? signal}) before printing its address: ${err}`)));
  });
  child.stdin!.on('error', () => {}); // a simulator that stopped: nobody to press for
  const json = JSON.parse(first) as { pty?: string; socket?: string };
  const armor = args.includes('--armor');
  const device = json.pty !== undefined ? (armor ? 'armor:' : '') + json.pty : 'unix:' + json.socket;
  const proc: SimProcess = {
    child,
    json,
    stderr: () => err,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    press() {
      child.stdin!.write('press\n');
    },
    device,
  };
  const init = opts.init !== undefined ? opts.init : !args.includes('--power-cut-after');
  if (init) {
    try {
      await initDevice(device, armor && json.socket !== undefined ? { linkMode: 'armor' } : {});
    } catch (e) {
      await proc.stop('SIGKILL');
      throw e;
    }
  }
  return proc;
}

/** Run the CLI to completion: exit code, stdout, stderr. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const bundle = await nodeBundle();
  const cmd = await cliCommand();
  const child = spawn(process.execPath, [...cmd, ...args], {
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, TINYHSM_BUNDLE: bundle, ...env },
  });
  if (input !== undefined) child.stdin!.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((res) => child.once('close', (c) => res(c)));
  return { code, stdout, stderr };
}

/** An independent verifier (node:crypto / OpenSSL) for a device public key. */
export function nodePublicKey(alg: 'ed25519' | 'ecdsa-p256' | 'ecdsa-secp256k1', raw: Uint8Array): KeyObject {
  if (alg === 'ed25519') return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
  if (raw.length !== 65 || raw[0] !== 4) throw new Error('expected an uncompressed SEC1 point');
  const crv = alg === 'ecdsa-p256' ? 'P-256' : 'secp256k1';
  return createPublicKey({
    key: { kty: 'EC', crv, x: Buffer.from(raw.subarray(1, 33)).toString('base64url'), y: Buffer.from(raw.subarray(33)).toString('base64url') },
    format: 'jwk',
  });
}

/** Verify a device signature with node:crypto: Ed25519 over the message, ECDSA (raw r‖s) over SHA-256 of it. */
export function verifyWithNode(alg: 'ed25519' | 'ecdsa-p256' | 'ecdsa-secp256k1', publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const key = nodePublicKey(alg, publicKey);
  if (alg === 'ed25519') return nodeVerify(null, message, key, signature);
  return nodeVerify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature);
}
