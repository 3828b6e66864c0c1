// `tinyhsm sim --flash FILE [--power-cut-after N]` as a process on a real pty: the file is the flash, a cut tears word N and exits 3 (docs/architecture.md §6).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SerialPort } from 'serialport';
import { SIM_LOGIN, SIM_SO_PIN, SIM_USER_PIN, cliCommand, nodeBundle, verifyWithNode } from '../helpers/sim.ts';
import { BOOT_PATTERN, BOOT_WORDS, writeFlashExerciser } from '../helpers/board-emulation/flash-exerciser.ts';
import { HsmClient } from '../../host/index.ts';
import { toHex } from '../../firmware/protocol/index.ts';

const PAGE = 4096;
const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');

let dir: string;
let exerciser: string;
let cli: string[];
let files = 0;
const newFile = () => join(dir, `dev-${++files}.img`);
const running: ChildProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tinyhsm-powercut-'));
  exerciser = writeFlashExerciser(dir);
  cli = await cliCommand();
});
afterAll(async () => {
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  json: { pty?: string; socket?: string } | undefined;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `tinyhsm sim ARGS` and wait for its first stdout line (the JSON address), or its exit. */
async function sim(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const child = spawn(process.execPath, [...cli, 'sim', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  running.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const first = await Promise.race([new Promise<string>((res) => createInterface({ input: child.stdout! }).once('line', res)), exited.then(() => undefined)]);
  return { child, json: first ? JSON.parse(first) : undefined, stderr: () => err, exited };
}

/** A line-oriented conversation with the flash exerciser over the pty. */
async function openLines(path: string) {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
  await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
  port.on('error', () => {}); // the other end vanishing (a power cut) is expected here
  let buf = '';
  const lines: string[] = [];
  let waiter: (() => void) | undefined;
  port.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    if (waiter) waiter();
  });
  return {
    lines,
    send: (line: string) => port.write(line + '\n'),
    /** Send a line and wait for its one-line answer (the exerciser answers every command but a cut one). */
    async ask(line: string): Promise<string> {
      const n = lines.length;
      const got = new Promise<void>((res) => (waiter = () => lines.length > n && res()));
      port.write(line + '\n');
      await got;
      return lines[n];
    },
    close: () => new Promise<void>((res) => (port.isOpen ? port.close(() => res()) : res())),
  };
}

describe('tinyhsm sim --flash FILE --power-cut-after N (flash exerciser firmware)', () => {
  it('exits with status 3 and "power cut after word write N" once N words were written; the file keeps word N torn and nothing after', async () => {
    const img = newFile();
    const N = BOOT_WORDS + 2;
    const run = await sim(['--pty', '--json', '--flash', img, '--bundle', exerciser, '--power-cut-after', String(N), '--seed', '0badcafe']);
    expect(run.json!.pty).toMatch(/^\/dev\/pts\/\d+$/);
    const link = await openLines(run.json!.pty!);
    expect(await link.ask('g')).toBe(JSON.stringify({ pageSize: PAGE, pageCount: 32, wordSize: 4 }));
    link.send('w 1 0 00000000' + '0f0f0f0f' + '00000000'); // words N-1, N (torn), N+1 (never)
    const { code } = await run.exited;
    await link.close();
    expect(code).toBe(3);
    expect(run.stderr()).toMatch(new RegExp(`power cut after word write ${N} \\(page 1, offset 4 landed torn\\)`));
    expect(link.lines).toEqual([JSON.stringify({ pageSize: PAGE, pageCount: 32, wordSize: 4 })]); // no "ok": the device died mid-command
    const disk = readFileSync(img);
    expect(disk.length).toBe(32 * PAGE);
    expect(hex(disk.subarray(0, 12))).toBe(BOOT_PATTERN);
    expect(hex(disk.subarray(PAGE, PAGE + 4))).toBe('00000000');
    const torn = disk.subarray(PAGE + 4, PAGE + 8);
    expect(torn.every((b) => (b & 0x0f) === 0x0f)).toBe(true); // bits the write was to keep are all still 1
    expect(hex(disk.subarray(PAGE + 8, 2 * PAGE))).toBe('ff'.repeat(PAGE - 8));
    expect(existsSync(img + '.lock')).toBe(false);

    // power comes back: the same file, no cut; the firmware sees exactly what the file holds; SIGTERM exits 0
    const again = await sim(['--pty', '--json', '--flash', img, '--bundle', exerciser]);
    const link2 = await openLines(again.json!.pty!);
    expect(await link2.ask('r 1 0 12')).toBe('00000000' + hex(torn) + 'ffffffff');
    expect(await link2.ask('r 0 0 16')).toBe(BOOT_PATTERN + 'ffffffff'); // boot saw a used flash and wrote nothing
    await link2.close();
    again.child.kill('SIGTERM');
    expect((await again.exited).code).toBe(0);
    expect(again.stderr()).not.toMatch(/power cut/);
    expect(existsSync(img + '.lock')).toBe(false);
  });

  it('a cut during boot (N within the first-boot writes): the address is printed, then exit 3; the boot record is torn', async () => {
    const img = newFile();
    const run = await sim(['--pty', '--json', '--flash', img, '--bundle', exerciser, '--power-cut-after', '2', '--flash-pages', '8']);
    expect(run.json!.pty).toMatch(/^\/dev\/pts\/\d+$/);
    expect((await run.exited).code).toBe(3);
    expect(run.stderr()).toMatch(/power cut after word write 2 \(page 0, offset 4 landed torn\)/);
    const disk = readFileSync(img);
    expect(statSync(img).size).toBe(8 * PAGE);
    expect(hex(disk.subarray(0, 4))).toBe(BOOT_PATTERN.slice(0, 8));
    const want = Buffer.from(BOOT_PATTERN.slice(8, 16), 'hex');
    for (let i = 0; i < 4; i++) expect(want[i] & ~disk[4 + i]).toBe(0); // only bits the write was to clear are cleared
    expect(hex(disk.subarray(8, 12))).toBe('ffffffff');
  });

  it('SIGTERM before the N-th write exits 0 with no cut, after writes that all landed', async () => {
    const img = newFile();
    const run = await sim(['--pty', '--json', '--flash', img, '--bundle', exerciser, '--power-cut-after', '1000']);
    const link = await openLines(run.json!.pty!);
    expect(await link.ask('w 5 8 0a0b0c0d')).toBe('ok');
    await link.close();
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
    expect(run.stderr()).not.toMatch(/power cut/);
    expect(hex(readFileSync(img).subarray(5 * PAGE + 8, 5 * PAGE + 12))).toBe('0a0b0c0d');
  });

  it('refuses bad flags and a file of another geometry with a message that says what to do', async () => {
    const img = newFile();
    const sock = join(dir, 's.sock');
    const first = await sim(['--socket', sock, '--json', '--flash', img, '--bundle', exerciser, '--flash-pages', '4']);
    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    const cases: [string[], number, RegExp][] = [
      [['--flash', img, '--flash-pages', '16'], 1, /holds 4 pages of 4096 bytes, not the 16 asked for with --flash-pages; drop --flash-pages/],
      [['--power-cut-after', '3'], 2, /--power-cut-after needs --flash FILE/],
      [['--flash', img, '--power-cut-after', '0'], 2, /--power-cut-after must be a positive integer/],
      [['--flash-pages', '8'], 2, /--flash-pages only applies with --flash FILE/],
      [['--flash', newFile(), '--flash-pages', '300'], 2, /--flash-pages must be an integer from 2 to 256/],
    ];
    for (const [args, code, msg] of cases) {
      const r = await sim(['--socket', sock, '--json', '--bundle', exerciser, ...args]);
      expect(r.json, args.join(' ')).toBeUndefined();
      expect((await r.exited).code, args.join(' ')).toBe(code);
      expect(r.stderr(), args.join(' ')).toMatch(msg);
    }
    expect(statSync(img).size).toBe(4 * PAGE); // untouched by the refused runs
  });
});

describe('tinyhsm sim --flash FILE with the real firmware', () => {
  it('keys made on the device are listed and still sign after a restart on the same file; the identity stays', async () => {
    const bundle = await nodeBundle();
    const img = newFile();
    const env = { TINYHSM_BUNDLE: bundle };
    const message = new TextEncoder().encode('signed before and after a restart');
    let run = await sim(['--pty', '--json', '--flash', img], env);
    let client = await HsmClient.open(run.json!.pty!, { trust: true });
    const info1 = await client.info();
    // a new file is a factory-new device: no key before INIT, then INIT and the user's LOGIN (docs/security.md §2–§4)
    expect(info1.initialized).toBe(false);
    await expect(client.generateKey('ed25519', 'too early')).rejects.toMatchObject({ name: 'HsmError', code: 'NOT_INITIALIZED' });
    await client.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN });
    await client.login('user', SIM_USER_PIN);
    const made = await client.generateKey('ed25519', 'persisted');
    await client.close();
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);

    run = await sim(['--pty', '--json', '--flash', img], env);
    client = await HsmClient.open(run.json!.pty!, { trust: true, login: SIM_LOGIN });
    try {
      const info2 = await client.info();
      expect(toHex(info2.deviceId)).toBe(toHex(info1.deviceId));
      // the PIN records are in the file too: still initialized, and the same user PIN logs in below
      expect(info2.initialized).toBe(true);
      const listed = await client.listKeys();
      expect(listed.some((k) => k.keyId === made.keyId && toHex(k.publicKey) === toHex(made.publicKey))).toBe(true);
      const sig = await client.sign(made.keyId, { message });
      expect(verifyWithNode('ed25519', made.publicKey, message, sig)).toBe(true);
    } finally {
      await client.close();
      run.child.kill('SIGTERM');
      expect((await run.exited).code).toBe(0);
    }
  });
});
