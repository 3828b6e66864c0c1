// The connector's pure parts (host/connector/wire.ts, server.ts parsing, the `connector:` address) and its rewriting against a scripted device on a unix socket: retransmission under the same device seq, KEEPALIVE relayed, armor re-encoding, SESSION_LIMIT held and sent again under a new seq (docs/connector.md).
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, FrameReader, FrameType, Reason, Status, cborEncode, type CborValue, type Frame } from '../../firmware/protocol/index.ts';
import { HsmError } from '../../host/errors.ts';
import { parseBody } from '../../host/messages.ts';
import { Connector } from '../../host/connector/connector.ts';
import { ConnectorAnswer, answerInfo, errorBody, frameBytes, requestInfo, unknownSessionBody } from '../../host/connector/wire.ts';
import { parseLoopback, groupId } from '../../host/connector/server.ts';
import { connectorAddress, openConnector } from '../../host/connector/client-transport.ts';
import type { HostTransport } from '../../host/transports/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-connector-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const map = (entries: [number, CborValue][]) => cborEncode(new Map<number, CborValue>(entries));
const body = (first: number, entries: [number, CborValue][] = []) => Uint8Array.of(first, ...map(entries));

describe('wire.ts', () => {
  it('reads the command, a SESSION_MESSAGE session id and a clear INFO; anything unreadable is relayed untouched', () => {
    expect(
      requestInfo(
        body(Command.SESSION_MESSAGE, [
          [1, 7],
          [2, 1],
          [3, new Uint8Array(16)],
        ]),
      ),
    ).toEqual({ command: Command.SESSION_MESSAGE, sessionId: 7, clearInfo: false });
    expect(requestInfo(body(Command.SESSION_MESSAGE, [[1, 0]])).sessionId).toBeUndefined(); // out of 1..255: the device judges it
    expect(requestInfo(body(Command.SESSION_MESSAGE, [[1, 256]])).sessionId).toBeUndefined();
    expect(requestInfo(Uint8Array.of(Command.SESSION_MESSAGE, 0xff, 0x00)).sessionId).toBeUndefined(); // not CBOR
    expect(requestInfo(Uint8Array.of(Command.INFO, 0xa0))).toEqual({ command: Command.INFO, clearInfo: true });
    expect(requestInfo(new Uint8Array(0))).toEqual({ command: -1, clearInfo: false });
  });

  it('learns a session id only from a SESSION_OPEN answered OK', () => {
    expect(
      answerInfo(
        Command.SESSION_OPEN,
        body(Status.OK, [
          [1, 3],
          [2, new Uint8Array(32)],
        ]),
      ),
    ).toEqual({ status: 0, openedSession: 3 });
    expect(answerInfo(Command.SESSION_OPEN, body(Status.SESSION_LIMIT, [[1, Reason.SESSIONS_FULL]]))).toEqual({ status: Status.SESSION_LIMIT });
    expect(answerInfo(Command.ECHO, body(Status.OK, [[1, 3]]))).toEqual({ status: 0 });
    expect(answerInfo(Command.SESSION_OPEN, new Uint8Array(0))).toEqual({ status: -1 });
  });

  it("the connector's own answers decode to HsmErrors with sentences a person can act on", () => {
    const decode = (b: Uint8Array) => parseBody('KEY_LIST', undefined, b, true) as HsmError;
    expect(decode(ConnectorAnswer.deviceGone(true))).toMatchObject({ code: 'DEVICE_UNAVAILABLE', reason: Reason.DEVICE_GONE, args: [1] });
    expect(decode(ConnectorAnswer.deviceGone(true)).message).toMatch(/went away .*it may have run/);
    expect(decode(ConnectorAnswer.deviceGone(false)).message).toMatch(/before this request reached it: it did not run/);
    expect(decode(ConnectorAnswer.deviceAbsent(5000)).message).toMatch(/no device for 5000 ms: this request did not run.*plug the board back in/);
    expect(decode(ConnectorAnswer.queueCancelled())).toMatchObject({ code: 'CANCELLED', reason: Reason.QUEUE_CANCELLED });
    expect(decode(unknownSessionBody(9))).toMatchObject({ code: 'SESSION_INVALID', reason: Reason.SESSION_UNKNOWN, args: [9] });
    expect(Buffer.from(errorBody(Status.BUSY, Reason.WAITING_FOR_BUTTON, [300])).toString('hex')).toBe('1fa201120219012c');
  });

  it('frames for either link mode carry the same packet after a leading delimiter', () => {
    const b = frameBytes('binary', FrameType.RESPONSE, 0x1234, Uint8Array.of(0, 0xa0));
    const a = frameBytes('armor', FrameType.RESPONSE, 0x1234, Uint8Array.of(0, 0xa0));
    expect(b[0]).toBe(0);
    expect(a[0]).toBe(0x0a);
    const fb = new FrameReader(2048, 'binary').push(b);
    const fa = new FrameReader(2048, 'armor').push(a);
    expect(fb).toEqual(fa);
    expect(fb).toHaveLength(1);
  });
});

describe('addresses', () => {
  it('--tcp takes a loopback HOST:PORT only', () => {
    expect(parseLoopback('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseLoopback('127.1.2.3:65535')).toEqual({ host: '127.1.2.3', port: 65535 });
    expect(parseLoopback('[::1]:80')).toEqual({ host: '::1', port: 80 });
    for (const bad of ['0.0.0.0:1', '192.168.1.2:1', '[::]:1', 'example.com:1', '127.0.0.1', '127.0.0.1:70000', ':5'])
      expect(typeof parseLoopback(bad), bad).toBe('string');
    expect(parseLoopback('10.0.0.1:9')).toMatch(/loopback address only/);
  });

  it('connector:REST is a loopback TCP address or a socket path; a group is a name in /etc/group or a number', async () => {
    expect(connectorAddress('127.0.0.1:4000')).toEqual({ host: '127.0.0.1', port: 4000 });
    expect(connectorAddress('[::1]:4000')).toEqual({ host: '::1', port: 4000 });
    expect(connectorAddress('/run/hsm.sock')).toEqual({ path: '/run/hsm.sock' });
    await expect(openConnector(join(dir, 'nobody.sock'))).rejects.toThrow(/no connector at .*nobody\.sock.*start one with `tinyhsm connector/);
    expect(groupId('0')).toBe(0);
    expect(groupId('root')).toBe(0);
    expect(groupId('no-such-group-here')).toMatch(/no group "no-such-group-here"/);
  });
});

/** A scripted device on a unix socket: `on` sees each frame it receives and may answer through `send`. */
async function scriptedDevice(mode: 'binary' | 'armor', on: (f: Frame, send: (type: number, seq: number, body: Uint8Array) => void) => void) {
  const path = join(dir, `dev-${Math.random().toString(16).slice(2)}.sock`);
  const got: Frame[] = [];
  let peer: net.Socket | undefined;
  const server = net.createServer((s) => {
    peer = s;
    const reader = new FrameReader(65535, mode);
    const send = (type: number, seq: number, b: Uint8Array) => s.write(frameBytes(mode, type, seq, b));
    s.on('data', (chunk) => {
      for (const ev of reader.push(chunk))
        if (ev.kind === 'frame') {
          got.push(ev.frame);
          on(ev.frame, send);
        }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(path, r));
  cleanup.push(() => new Promise<void>((r) => (peer && peer.destroy(), server.close(() => r()))));
  return { device: 'unix:' + path, got, unplug: () => peer && peer.destroy() };
}

/** A SESSION_MESSAGE for session `id` (the connector reads only the id). */
const envelope = (id: number) =>
  body(Command.SESSION_MESSAGE, [
    [1, id],
    [2, 1],
    [3, new Uint8Array(16)],
  ]);

function raw(t: HostTransport) {
  const reader = new FrameReader(65535, 'binary');
  const got: Frame[] = [];
  t.onData((b) => {
    for (const ev of reader.push(b)) if (ev.kind === 'frame') got.push(ev.frame);
  });
  return { got, send: (type: number, seq: number, b: Uint8Array) => t.write(frameBytes('binary', type, seq, b)) };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function start(device: string, extra: Partial<Parameters<typeof Connector.start>[0]> = {}): Promise<Connector> {
  const c = await Connector.start({ device, ...extra });
  cleanup.push(() => c.close());
  return c;
}

describe('the connector against a scripted device', () => {
  it('retransmits the same device seq and bytes after a device timeout, and answers under the client seq', async () => {
    let n = 0;
    const dev = await scriptedDevice('binary', (f, send) => {
      if (n++ === 0) return; // the first copy is lost
      send(FrameType.RESPONSE, f.seq, Uint8Array.of(0, 0xa0));
    });
    const con = await start(dev.device, { deviceTimeoutMs: 100 });
    const c = raw(con.attach());
    await c.send(FrameType.REQUEST, 0x0102, body(Command.ECHO, [[1, new Uint8Array(4)]]));
    await until(() => c.got.length > 0);
    expect(dev.got).toHaveLength(2);
    expect(dev.got[1]).toEqual(dev.got[0]);
    expect(c.got.map((f) => [f.type, f.seq])).toEqual([[FrameType.RESPONSE, 0x0102]]);
    expect(con.stats.deviceRequests).toBe(1);
  });

  it('relays KEEPALIVE and CANCEL under the rewritten seqs; a client retransmission goes to the device under the same seq', async () => {
    const dev = await scriptedDevice('binary', (f, send) => {
      if (f.type === FrameType.REQUEST) send(FrameType.KEEPALIVE, f.seq, Uint8Array.of(2));
      if (f.type === FrameType.CANCEL)
        send(
          FrameType.RESPONSE,
          f.seq,
          body(Status.CANCELLED, [
            [1, Reason.PRESS_CANCELLED],
            [2, 4],
          ]),
        );
    });
    const con = await start(dev.device);
    const c = raw(con.attach());
    await c.send(FrameType.REQUEST, 40, body(Command.ECHO, [[1, new Uint8Array(1)]]));
    await until(() => c.got.length > 0);
    expect([c.got[0].type, c.got[0].seq, c.got[0].body[0]]).toEqual([FrameType.KEEPALIVE, 40, 2]);
    await c.send(FrameType.REQUEST, 40, body(Command.ECHO, [[1, new Uint8Array(1)]])); // the client's link retransmits
    await until(() => dev.got.length === 2);
    expect(dev.got[1]).toEqual(dev.got[0]);
    await c.send(FrameType.CANCEL, 40, Uint8Array.of(0xa0));
    await until(() => c.got.some((f) => f.type === FrameType.RESPONSE));
    expect(dev.got[2]).toMatchObject({ type: FrameType.CANCEL, seq: dev.got[0].seq });
    expect(c.got.find((f) => f.type === FrameType.RESPONSE)).toMatchObject({ seq: 40, body: expect.objectContaining({ 0: Status.CANCELLED }) });
  });

  it('re-encodes for an armor device: clients speak binary, the device armor lines', async () => {
    const dev = await scriptedDevice('armor', (f, send) => send(FrameType.RESPONSE, f.seq, Uint8Array.of(0, 0xa1, 0x01, 0x41, 0x61)));
    const con = await start(dev.device, { deviceOptions: { linkMode: 'armor' } });
    const c = raw(con.attach());
    await c.send(FrameType.REQUEST, 9, body(Command.ECHO, [[1, new Uint8Array([0x61])]]));
    await until(() => c.got.length > 0);
    expect(dev.got[0].body).toEqual(body(Command.ECHO, [[1, new Uint8Array([0x61])]]));
    expect([c.got[0].seq, Buffer.from(c.got[0].body).toString('hex')]).toEqual([9, '00a1014161']);
  });

  it('holds a SESSION_OPEN answered SESSION_LIMIT and sends it again under a new seq when a lease ends; gives up with the device answer after the bound', async () => {
    let slots = 1;
    let nextId = 1;
    const dev = await scriptedDevice('binary', (f, send) => {
      if (f.body[0] !== Command.SESSION_OPEN) return send(FrameType.RESPONSE, f.seq, Uint8Array.of(0, 0xa0));
      if (slots === 0)
        return send(
          FrameType.RESPONSE,
          f.seq,
          body(Status.SESSION_LIMIT, [
            [1, Reason.SESSIONS_FULL],
            [2, 4],
            [3, 60000],
          ]),
        );
      slots--;
      send(FrameType.RESPONSE, f.seq, body(Status.OK, [[1, nextId++]]));
    });
    const con = await start(dev.device, { keepaliveMs: 50, sessionWaitMs: 400 });
    const open = body(Command.SESSION_OPEN, [[1, new Uint8Array(32).fill(9)]]);
    const holder = con.attach();
    const a = raw(holder);
    const b = raw(con.attach());
    await a.send(FrameType.REQUEST, 1, open);
    await until(() => a.got.length > 0);
    expect(con.stats.liveLeases).toBe(1);
    await a.send(FrameType.REQUEST, 2, envelope(1)); // its LOGIN: the session is no longer fresh
    await until(() => a.got.length > 1);
    await b.send(FrameType.REQUEST, 1, open);
    await until(() => b.got.some((f) => f.type === FrameType.KEEPALIVE && f.body[0] === 1)); // held, KEEPALIVE 01
    expect(con.stats.held).toBe(1);
    slots = 1; // the holder's client closes its session, then its link
    await holder.close();
    await until(() => b.got.some((f) => f.type === FrameType.RESPONSE));
    expect(b.got.find((f) => f.type === FrameType.RESPONSE)!.body[0]).toBe(Status.OK);
    const opens = dev.got.filter((f) => f.body[0] === Command.SESSION_OPEN);
    expect(opens).toHaveLength(3);
    expect(new Set(opens.map((f) => f.seq)).size).toBe(3); // never the same seq: the device would answer from its reply cache
    // no slot comes free: after sessionWaitMs the client gets the device's own SESSION_LIMIT answer
    const c = raw(con.attach());
    await c.send(FrameType.REQUEST, 5, open);
    await until(() => c.got.some((f) => f.type === FrameType.RESPONSE), 3000);
    expect(c.got.find((f) => f.type === FrameType.RESPONSE)!.body[0]).toBe(Status.SESSION_LIMIT);
    expect(con.stats.held).toBe(0);
  });

  it("defers another client's SESSION_OPEN until a fresh session's first envelope is answered, so the device does not evict it before its LOGIN", async () => {
    let nextId = 1;
    const dev = await scriptedDevice('binary', (f, send) =>
      send(FrameType.RESPONSE, f.seq, f.body[0] === Command.SESSION_OPEN ? body(Status.OK, [[1, nextId++]]) : Uint8Array.of(0, 0xa0)),
    );
    const con = await start(dev.device, { keepaliveMs: 50 });
    const open = body(Command.SESSION_OPEN, [[1, new Uint8Array(32).fill(7)]]);
    const [a, b, c] = [raw(con.attach()), raw(con.attach()), raw(con.attach())];
    await a.send(FrameType.REQUEST, 1, open);
    await until(() => a.got.length > 0);
    await b.send(FrameType.REQUEST, 1, open);
    await c.send(FrameType.REQUEST, 1, body(Command.ECHO, [[1, new Uint8Array(2)]])); // other requests are not held up
    await until(() => c.got.some((f) => f.type === FrameType.RESPONSE));
    await new Promise((r) => setTimeout(r, 150));
    expect(dev.got.map((f) => f.body[0])).toEqual([Command.SESSION_OPEN, Command.ECHO]);
    await a.send(FrameType.REQUEST, 2, envelope(1));
    await until(() => b.got.some((f) => f.type === FrameType.RESPONSE));
    expect(dev.got.map((f) => f.body[0])).toEqual([Command.SESSION_OPEN, Command.ECHO, Command.SESSION_MESSAGE, Command.SESSION_OPEN]);
  });

  it('a device that closes: the request at it fails DEVICE_GONE [1], the connector reopens the path when it serves again', async () => {
    const dev = await scriptedDevice('binary', () => {});
    const con = await start(dev.device, { reopenIntervalMs: 50, absentWaitMs: 200, keepaliveMs: 50 });
    const c = raw(con.attach());
    await c.send(FrameType.REQUEST, 3, body(Command.ECHO, [[1, new Uint8Array(1)]]));
    await until(() => dev.got.length === 1);
    dev.unplug();
    await until(() => c.got.some((f) => f.type === FrameType.ERROR));
    const gone = c.got.find((f) => f.type === FrameType.ERROR)!;
    expect([gone.seq, Buffer.from(gone.body).toString('hex')]).toEqual([3, Buffer.from(ConnectorAnswer.deviceGone(true)).toString('hex')]);
    // the scripted server still listens: the connector is back within a few intervals
    await until(() => con.stats.deviceOpen);
  });

  it('refuses a connector as its device, and a device that does not open', async () => {
    await expect(Connector.start({ device: 'connector:/x.sock' })).rejects.toThrow(/cannot serve another connector/);
    await expect(Connector.start({ device: 'unix:' + join(dir, 'absent.sock') })).rejects.toMatchObject({ code: 'NO_DEVICE' });
  });
});
