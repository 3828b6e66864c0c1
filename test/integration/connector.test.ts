// The connector (docs/connector.md) in front of `tinyhsm sim --socket` children: per-client sequence spaces, FIFO with a button wait, session slot leases, the INFO cache, the daemon with the real CLI, hostile clients, and a device killed and started again.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Command, FrameReader, FrameType, KeepaliveReason, Reason, Status, cborEncode, type CborValue, type Frame } from '../../firmware/protocol/index.ts';
import { HsmClient, HsmError, type KeepaliveEvent } from '../../host/index.ts';
import { Connector } from '../../host/connector/connector.ts';
import { frameBytes } from '../../host/connector/wire.ts';
import type { HostTransport } from '../../host/transports/types.ts';
import { SIM_LOGIN, SIM_PIN_ENV, cliCommand, nodeBundle, runCli, spawnSim, type SimProcess } from '../helpers/sim.ts';

const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-connector-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A client speaking raw frames on a link, collecting what comes back. */
function raw(t: HostTransport) {
  const reader = new FrameReader(65535, 'binary');
  const got: Frame[] = [];
  let wake: () => void = () => {};
  t.onData((b) => {
    for (const ev of reader.push(b)) if (ev.kind === 'frame') got.push(ev.frame);
    wake();
  });
  return {
    got,
    send: (type: number, seq: number, body: Uint8Array) => t.write(frameBytes('binary', type, seq, body)),
    /** The first frame received so far or later that `pred` accepts (taken out of `got`). */
    async next(pred: (f: Frame) => boolean, ms = 8000): Promise<Frame> {
      const deadline = Date.now() + ms;
      for (;;) {
        const i = got.findIndex(pred);
        if (i >= 0) return got.splice(i, 1)[0];
        if (Date.now() > deadline) throw new Error(`no such frame within ${ms} ms; got ${JSON.stringify(got.map((f) => [f.type, f.seq]))}`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
    },
    close: () => t.close(),
  };
}

const echo = (data: string) => {
  const c = cborEncode(new Map([[1, new Uint8Array(Buffer.from(data))]]));
  return Uint8Array.of(Command.ECHO, ...c);
};
const INFO = Uint8Array.of(Command.INFO, 0xa0);
const answerOf = (seq: number) => (f: Frame) => f.seq === seq && (f.type === FrameType.RESPONSE || f.type === FrameType.ERROR);
const keepaliveOf = (seq: number, reason: number) => (f: Frame) => f.seq === seq && f.type === FrameType.KEEPALIVE && f.body[0] === reason;
const echoed = (f: Frame) => Buffer.from(f.body.subarray(f.body.length - 7)).toString();

async function connector(device: string, extra: Partial<Parameters<typeof Connector.start>[0]> = {}): Promise<Connector> {
  const c = await Connector.start({ device, keepaliveMs: 200, ...extra });
  cleanup.push(() => c.close());
  return c;
}

function client(c: Connector, opts: ConstructorParameters<typeof HsmClient>[1] = {}): HsmClient {
  const h = new HsmClient(c.attach(), { knownDevices: null, closeOnExit: false, login: SIM_LOGIN, ...opts });
  cleanup.push(() => h.close());
  return h;
}

function ed25519Verifies(publicKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey]);
  return nodeVerify(null, msg, createPublicKey({ key: spki, format: 'der', type: 'spki' }), sig);
}

describe('one simulator behind the in-process connector', () => {
  let sim: SimProcess;
  beforeAll(async () => {
    sim = await spawnSim(['--socket', join(dir, 'a.sock')]);
  });
  afterAll(async () => {
    await sim.stop();
  });

  it('two clients with the same sequence numbers at once each get their own answers; a retransmission is answered again, not run again', async () => {
    const con = await connector(sim.device);
    const a = raw(con.attach());
    const b = raw(con.attach());
    await Promise.all([a.send(FrameType.REQUEST, 7, echo('client1')), b.send(FrameType.REQUEST, 7, echo('client2'))]);
    const [ra, rb] = await Promise.all([a.next(answerOf(7)), b.next(answerOf(7))]);
    expect([ra.type, ra.body[0], echoed(ra)]).toEqual([FrameType.RESPONSE, Status.OK, 'client1']);
    expect([rb.type, rb.body[0], echoed(rb)]).toEqual([FrameType.RESPONSE, Status.OK, 'client2']);
    const sent = con.stats.deviceRequests;
    await a.send(FrameType.REQUEST, 7, echo('client1')); // the same seq and bytes: a retransmission
    expect(echoed(await a.next(answerOf(7)))).toBe('client1');
    expect(con.stats.deviceRequests).toBe(sent);
    await a.send(FrameType.REQUEST, 7, echo('clientX')); // the same seq, other bytes: a new request (docs/protocol.md §1)
    expect(echoed(await a.next(answerOf(7)))).toBe('clientX');
    expect(con.stats.deviceRequests).toBe(sent + 1);
  });

  it("a touch key's SIGN holds the others (KEEPALIVE 01, never BUSY), FIFO after the press; a CANCEL takes a queued request out", async () => {
    const con = await connector(sim.device);
    const signer = client(con);
    const key = await signer.generateKey('ed25519', 'touch', { touch: true });
    const waits: KeepaliveEvent[] = [];
    const msg = new Uint8Array(Buffer.from('pressed through the connector'));
    const signing = signer.sign(key.keyId, { message: msg }, { onKeepalive: (e) => waits.push(e) });
    while (!waits.some((e) => e.presence)) await new Promise((r) => setTimeout(r, 20));
    const [a, b, c] = [raw(con.attach()), raw(con.attach()), raw(con.attach())];
    // queued in the order c, a, b; b's second request is cancelled while queued
    await c.send(FrameType.REQUEST, 100, echo('third-c'));
    await a.send(FrameType.REQUEST, 200, echo('first-a'));
    await b.send(FrameType.REQUEST, 300, echo('cancel1'));
    await b.send(FrameType.CANCEL, 300, new Uint8Array(0));
    const cancelled = await b.next(answerOf(300));
    expect([cancelled.type, cancelled.body[0]]).toEqual([FrameType.ERROR, Status.CANCELLED]);
    expect(HsmError.fromStatus(cancelled.body[0], Reason.QUEUE_CANCELLED, []).message).toMatch(/connector's queue: it never reached the device/);
    await b.send(FrameType.REQUEST, 301, echo('later-b'));
    // the queued clients hear KEEPALIVE 01 while the device waits for the button
    await Promise.all([
      c.next(keepaliveOf(100, KeepaliveReason.PROCESSING)),
      a.next(keepaliveOf(200, KeepaliveReason.PROCESSING)),
      b.next(keepaliveOf(301, 1)),
    ]);
    expect(con.stats.queued).toBe(3);
    const order: string[] = [];
    const done = [c, a, b].map((x, i) => x.next(answerOf([100, 200, 301][i])).then((f) => (order.push(echoed(f)), f)));
    sim.press();
    const sig = await signing;
    expect(ed25519Verifies(key.publicKey, msg, sig)).toBe(true);
    expect(waits.filter((e) => e.presence).length).toBeGreaterThan(0);
    const answers = await Promise.all(done);
    expect(answers.map((f) => f.body[0])).toEqual([Status.OK, Status.OK, Status.OK]); // never BUSY
    expect(order).toEqual(['third-c', 'first-a', 'later-b']);
    expect(b.got.some((f) => f.seq === 300 && f.type !== FrameType.KEEPALIVE)).toBe(false); // the cancelled one never ran
    // an abort of the waiting SIGN reaches the device under its seq: the next request does not wait for the presence timeout
    const aborter = new AbortController();
    const again = signer.sign(key.keyId, { message: msg }, { signal: aborter.signal, onKeepalive: (e) => e.presence && aborter.abort() });
    await expect(again).rejects.toMatchObject({ code: 'ABORTED' });
    const t0 = Date.now();
    expect(await signer.echo(Uint8Array.of(1, 2, 3))).toEqual(Uint8Array.of(1, 2, 3));
    expect(Date.now() - t0).toBeLessThan(3000);
    await signer.deleteKey(key.keyId);
  });

  it('five logged-in clients on a device with four session slots: the fifth waits and succeeds once one closes', async () => {
    const con = await connector(sim.device);
    const four = [client(con), client(con), client(con), client(con)];
    for (const c of four) await c.listKeys();
    expect(con.stats.liveLeases).toBe(4);
    const fifth = client(con);
    let settled = false;
    const p = fifth.listKeys().finally(() => (settled = true));
    while (con.stats.held === 0) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300)); // held across a few KEEPALIVE 01 rounds, not refused
    expect(settled).toBe(false);
    await four[0].close();
    expect(Array.isArray(await p)).toBe(true);
    expect(con.stats.held).toBe(0);
  });

  it('INFO in the clear comes from the cache while nothing else reached the device, and from the device after', async () => {
    const con = await connector(sim.device);
    const [a, b] = [raw(con.attach()), raw(con.attach())];
    await a.send(FrameType.REQUEST, 1, INFO);
    const first = await a.next(answerOf(1));
    const n = con.stats.deviceRequests;
    await b.send(FrameType.REQUEST, 9, INFO);
    const cached = await b.next(answerOf(9));
    expect(Buffer.from(cached.body)).toEqual(Buffer.from(first.body));
    expect([con.stats.deviceRequests, con.stats.infoFromCache]).toEqual([n, 1]);
    await b.send(FrameType.REQUEST, 10, echo('between'));
    await b.next(answerOf(10));
    await a.send(FrameType.REQUEST, 2, INFO);
    await a.next(answerOf(2));
    expect([con.stats.deviceRequests, con.stats.infoFromCache]).toEqual([n + 2, 1]);
    // an INFO with other bytes (a parameter) is not the cached one
    await a.send(FrameType.REQUEST, 3, Uint8Array.of(Command.INFO, 0xa1, 0x18, 0x63, 0x01));
    await a.next(answerOf(3));
    expect(con.stats.deviceRequests).toBe(n + 3);
  });

  it('a session another client holds, or none, is answered SESSION_INVALID by the connector; the holder is not disturbed', async () => {
    const con = await connector(sim.device);
    const holder = client(con);
    await holder.listKeys();
    const thief = raw(con.attach());
    const n = con.stats.deviceRequests;
    for (const id of [1, 2, 3, 4, 5, 200]) {
      const env = Uint8Array.of(
        Command.SESSION_MESSAGE,
        ...cborEncode(
          new Map<number, CborValue>([
            [1, id],
            [2, 99],
            [3, new Uint8Array(16)],
          ]),
        ),
      );
      await thief.send(FrameType.REQUEST, id, env);
      const f = await thief.next(answerOf(id));
      expect([f.type, f.body[0]]).toEqual([FrameType.RESPONSE, Status.SESSION_INVALID]);
    }
    expect(con.stats.deviceRequests).toBe(n);
    expect(Array.isArray(await holder.listKeys())).toBe(true);
  });
});

/** `tinyhsm connector …` as a child; resolves once it printed its JSON line. */
async function spawnConnector(
  args: string[],
): Promise<{ child: ChildProcess; json: { socket: string; tcp?: string }; stderr: () => string; exited: Promise<number | null> }> {
  const cmd = await cliCommand();
  const child = spawn(process.execPath, [...cmd, 'connector', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const first = await new Promise<string>((res, rej) => {
    createInterface({ input: child.stdout! }).once('line', res);
    exited.then((code) => rej(new Error(`tinyhsm connector exited (${code}) before listening: ${err}`)));
  });
  cleanup.push(() => child.exitCode === null && child.kill('SIGKILL'));
  return { child, json: JSON.parse(first), stderr: () => err, exited };
}

describe('the daemon: tinyhsm connector', () => {
  let sim: SimProcess;
  beforeAll(async () => {
    sim = await spawnSim(['--socket', join(dir, 'b.sock')]);
  });
  afterAll(async () => {
    await sim.stop();
  });

  it('serves CLI commands started at once, on a 0660 socket and loopback TCP; stops on SIGTERM and removes the socket', async () => {
    const socket = join(dir, 'conn.sock');
    const d = await spawnConnector(['--socket', socket, '--device', sim.device, '--tcp', '127.0.0.1:0', '--quiet']);
    expect(d.json.socket).toBe(socket);
    expect(d.json.tcp).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(statSync(socket).mode & 0o777).toBe(0o660);
    const env = { ...SIM_PIN_ENV, HSM_DEVICE: `connector:${socket}` };
    expect((await runCli(['list', '--trust', '--json'], env)).code).toBe(0); // pins the device once (a session: INFO opens none)
    const runs = await Promise.all([
      runCli(['list', '--json'], env),
      runCli(['random', '16'], env),
      runCli(['keygen', '--alg', 'ed25519', '--json'], env),
      runCli(['keygen', '--alg', 'ecdsa-p256', '--json'], env),
      runCli(['list'], env),
      runCli(['list'], env),
      runCli(['list', '--json'], env),
      runCli(['info', '--device', `connector:${d.json.tcp}`], SIM_PIN_ENV),
    ]);
    for (const r of runs) expect(r.code, r.stderr + r.stdout).toBe(0);
    for (const r of runs.slice(2, 4)) {
      const k = JSON.parse(r.stdout) as { id: number };
      expect((await runCli(['delete', '--key', String(k.id), '--force'], env)).code).toBe(0);
    }
    // hostile clients: garbage, an oversized frame, a RESPONSE frame, one that leaves mid-request
    const hostile = net.createConnection({ path: socket });
    await new Promise((r) => hostile.once('connect', r));
    const replies: Buffer[] = [];
    hostile.on('data', (b) => replies.push(b));
    hostile.write(Buffer.from('garbage \x01\x02\x03 no frame here\x00\xff\xfe\x00'));
    hostile.write(Buffer.concat([Buffer.from([0xff, 0x01, 0x01, 0x12, 0x34]), Buffer.alloc(70000, 0x41), Buffer.from([0])]));
    hostile.write(Buffer.from(frameBytes('binary', FrameType.RESPONSE, 0x4242, Uint8Array.of(0, 0xa0))));
    const leaver = net.createConnection({ path: socket });
    await new Promise((r) => leaver.once('connect', r));
    leaver.write(Buffer.from(frameBytes('binary', FrameType.REQUEST, 5, echo('leaving'))));
    leaver.destroy();
    const again = await runCli(['list', '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    const reader = new FrameReader(65535, 'binary');
    const frames = reader.push(new Uint8Array(Buffer.concat(replies))).flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));
    expect(frames.map((f) => [f.type, f.seq, f.body[0]])).toEqual([
      [FrameType.ERROR, 0x1234, Status.PACKET_TOO_LARGE],
      [FrameType.ERROR, 0x4242, Status.INVALID_FRAME],
    ]);
    hostile.destroy();
    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
    expect(() => statSync(socket)).toThrow();
  });

  it('never replaces a live socket or a regular file, replaces a stale one, and listens on loopback only', async () => {
    const socket = join(dir, 'live.sock');
    const d = await spawnConnector(['--socket', socket, '--device', sim.device, '--quiet']);
    const cmd = await cliCommand();
    const run = (args: string[]) =>
      new Promise<{ code: number | null; err: string }>((res) => {
        const c = spawn(process.execPath, [...cmd, 'connector', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let err = '';
        c.stderr!.on('data', (b: Buffer) => (err += b));
        c.once('exit', (code) => res({ code, err }));
      });
    const live = await run(['--socket', socket, '--device', sim.device]);
    expect(live.code).toBe(1);
    expect(live.err).toMatch(/already serving/);
    const file = join(dir, 'not-a-socket');
    writeFileSync(file, 'keep me');
    const reg = await run(['--socket', file, '--device', sim.device]);
    expect([reg.code, readFileSync(file, 'utf8')]).toEqual([1, 'keep me']);
    const wide = await run(['--socket', join(dir, 'x.sock'), '--device', sim.device, '--tcp', '0.0.0.0:9']);
    expect(wide.code).toBe(2);
    expect(wide.err).toMatch(/loopback address only/);
    const usage = await run(['--socket', join(dir, 'x.sock')]);
    expect([usage.code, /--device DEV is required/.test(usage.err)]).toEqual([2, true]);
    const nodev = await run(['--socket', join(dir, 'x.sock'), '--device', join(dir, 'no-such-port')]);
    expect(nodev.code).toBe(1);
    // SIGKILL leaves the socket file behind: the next connector replaces it
    d.child.kill('SIGKILL');
    await d.exited;
    expect(statSync(socket).isSocket()).toBe(true);
    const next = await spawnConnector(['--socket', socket, '--device', sim.device, '--quiet', '--group', String(process.getgid!())]);
    expect([statSync(socket).gid, statSync(socket).mode & 0o777]).toEqual([process.getgid!(), 0o660]);
    next.child.kill('SIGINT');
    expect(await next.exited).toBe(130);
    // a client with nobody serving gets a sentence naming the connector
    const none = await runCli(['info'], { HSM_DEVICE: `connector:${join(dir, 'nobody.sock')}` });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no connector at .*nobody\.sock.*tinyhsm connector/);
  });
});

describe('a device that goes away and comes back', () => {
  it('fails the request at the device and the queued one with DEVICE_UNAVAILABLE, keeps the clients, and works again with the same flash', async () => {
    const socket = join(dir, 'c.sock');
    const flash = join(dir, 'c.flash');
    let sim = await spawnSim(['--socket', socket, '--flash', flash]);
    cleanup.push(() => sim.stop('SIGKILL'));
    const con = await connector(sim.device, { absentWaitMs: 400, reopenIntervalMs: 100 });
    const a = client(con);
    const b = client(con);
    const key = await a.generateKey('ed25519', 'touch', { touch: true });
    expect(Array.isArray(await b.listKeys())).toBe(true);
    let pressWanted = false;
    const signing = a.sign(key.keyId, { message: Uint8Array.of(1) }, { onKeepalive: (e) => (pressWanted ||= e.presence) }).catch((e: unknown) => e);
    while (!pressWanted) await new Promise((r) => setTimeout(r, 20));
    const queued = b.listKeys().catch((e: unknown) => e);
    while (con.stats.queued === 0) await new Promise((r) => setTimeout(r, 20));
    await sim.stop('SIGKILL');
    const [e1, e2] = await Promise.all([signing, queued]);
    expect(e1).toBeInstanceOf(HsmError);
    expect(e1).toMatchObject({ code: 'DEVICE_UNAVAILABLE', reason: Reason.DEVICE_GONE, args: [1] });
    expect((e1 as Error).message).toMatch(/went away .* it may have run/);
    expect(e2).toMatchObject({ code: 'DEVICE_UNAVAILABLE', reason: Reason.DEVICE_GONE, args: [0] });
    expect((e2 as Error).message).toMatch(/did not run/);
    // while it is away a request waits briefly, then fails clearly
    await expect(b.info()).rejects.toMatchObject({ code: 'DEVICE_UNAVAILABLE', reason: Reason.DEVICE_ABSENT });
    expect(con.stats.clients).toBe(2);
    sim = await spawnSim(['--socket', socket, '--flash', flash], { init: false });
    while (!con.stats.deviceOpen) await new Promise((r) => setTimeout(r, 20));
    // the same clients, new sessions, logged in again with the kept PIN; a command that must not run twice runs
    expect((await a.listKeys()).some((k) => k.keyId === key.keyId)).toBe(true);
    const made = await b.generateKey('ed25519', 'after');
    await b.deleteKey(made.keyId);
    await a.deleteKey(key.keyId);
  });
});

beforeAll(async () => {
  await nodeBundle();
});
