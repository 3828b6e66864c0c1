// HsmClient against a scripted link (no firmware): queueing, seq matching and its random start, keepalive (and its callback), retransmit, abort with CANCEL and its bounded wait, close and error mapping.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  Command,
  FrameReader,
  FrameType,
  STATUS_HINTS,
  Status,
  cborEncode,
  encodeArmorLine,
  encodeFrame,
  encodePacket,
  cobsEncode,
  type Frame,
} from '../../firmware/protocol/index.ts';
import { HsmClient, HsmError, KeepaliveReason, resolveAlg, type HostTransport, type KeepaliveEvent } from '../../host/index.ts';
import { hsmFailure } from '../helpers/hsm-error.ts';
import { Reason } from '../../firmware/protocol/reasons.ts';

/** A link whose far end is the test: it records frames the client sends and lets the test answer. */
class ScriptedLink implements HostTransport {
  readonly written: Uint8Array[] = [];
  readonly frames: Frame[] = [];
  private rx: (b: Uint8Array) => void = () => {};
  private closeCb: ((e?: Error) => void) | undefined;
  private reader: FrameReader;
  closed = false;
  failWrites = false;
  constructor(readonly mode: 'binary' | 'armor' = 'binary') {
    this.reader = new FrameReader(65535, mode);
  }
  async write(bytes: Uint8Array): Promise<void> {
    if (this.failWrites) throw new Error('EIO: the cable is gone');
    this.written.push(bytes.slice());
    for (const ev of this.reader.push(bytes)) if (ev.kind === 'frame') this.frames.push(ev.frame);
  }
  onData(cb: (b: Uint8Array) => void): void {
    this.rx = cb;
  }
  onClose(cb: (e?: Error) => void): void {
    this.closeCb = cb;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  /** Device → host. */
  send(type: number, seq: number, status: number, map: Map<number, unknown> | Uint8Array = new Map()): void {
    const payload = map instanceof Uint8Array ? map : cborEncode(map as never);
    const body = new Uint8Array(1 + payload.length);
    body[0] = status;
    body.set(payload, 1);
    if (this.mode === 'binary') this.rx(encodeFrame(type, seq, body));
    else this.rx(Uint8Array.from(encodeArmorLine(type, seq, body), (c) => c.charCodeAt(0)));
  }
  /** Raw bytes from the device side (banners, noise, hand-made frames). */
  raw(b: Uint8Array): void {
    this.rx(b);
  }
  ok(seq: number, map: Map<number, unknown> = new Map()): void {
    this.send(FrameType.RESPONSE, seq, Status.OK, map);
  }
  drop(reason: string): void {
    if (this.closeCb) this.closeCb(new Error(reason));
  }
  get last(): Frame {
    return this.frames[this.frames.length - 1];
  }
}

/** Let promise callbacks and the client's writes run. */
const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('HsmClient over a scripted link', () => {
  it('frames a request with the command byte and deterministic CBOR, preceded by a resync delimiter', async () => {
    const link = new ScriptedLink();
    const c = new HsmClient(link);
    // in the clear (no session: this link has no firmware); sessions are covered by host-client-session.test.ts
    const p = c.callClear(Command.RANDOM, { length: 16 }).then((r) => r.bytes);
    await settle();
    expect(link.written[0][0]).toBe(0x00);
    expect(link.last.type).toBe(FrameType.REQUEST);
    expect([...link.last.body]).toEqual([Command.RANDOM, 0xa1, 0x01, 0x10]);
    link.ok(link.last.seq, new Map([[1, new Uint8Array(16).fill(4)]]));
    expect(await p).toEqual(new Uint8Array(16).fill(4));
  });

  it('keeps one request in flight and sends the next only after the answer', async () => {
    const link = new ScriptedLink();
    const c = new HsmClient(link);
    const a = c.echo(new Uint8Array([1]));
    const b = c.echo(new Uint8Array([2]));
    const d = c.echo(new Uint8Array([3]));
    await settle();
    expect(link.frames.length).toBe(1);
    const s1 = link.last.seq;
    link.ok(s1, new Map([[1, new Uint8Array([1])]]));
    await settle();
    expect(link.frames.length).toBe(2);
    expect(link.last.seq).toBe((s1 + 1) & 0xffff);
    link.ok(link.last.seq, new Map([[1, new Uint8Array([2])]]));
    await settle();
    link.ok(link.last.seq, new Map([[1, new Uint8Array([3])]]));
    expect(await Promise.all([a, b, d])).toEqual([new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([3])]);
  });

  it('starts every client at a random seq, so that a new process does not get the last one\'s cached reply (docs/protocol.md §1 "Sequence number")', async () => {
    const firsts: number[] = [];
    for (let i = 0; i < 32; i++) {
      const link = new ScriptedLink();
      const c = new HsmClient(link, { closeOnExit: false });
      const p = c.echo(new Uint8Array([i]));
      await settle();
      firsts.push(link.last.seq);
      link.ok(link.last.seq, new Map([[1, new Uint8Array([i])]]));
      await p;
    }
    // a fixed start gives one value; 32 uniform draws from 0..65535 give 17 or more distinct ones but for odds below 2^-300
    expect(new Set(firsts).size).toBeGreaterThan(16);
  });

  it('ignores answers with another seq or protocol version, and stray frame types', async () => {
    const link = new ScriptedLink();
    const c = new HsmClient(link);
    const p = c.echo(new Uint8Array([7]));
    await settle();
    const seq = link.last.seq;
    let done = false;
    p.then(() => (done = true));
    link.ok((seq + 1) & 0xffff, new Map([[1, new Uint8Array([0xee])]]));
    link.send(FrameType.REQUEST, seq, 0, new Map());
    link.raw(new TextEncoder().encode('Kaluma v1.2 booting...\r\n'));
    // a frame of protocol version 2 with the right seq
    const v2 = encodePacket(FrameType.RESPONSE, seq, Uint8Array.of(0, 0xa1, 1, 0x41, 7), 2);
    link.raw(Uint8Array.from([...cobsEncode(v2), 0]));
    await settle();
    expect(done).toBe(false);
    link.ok(seq, new Map([[1, new Uint8Array([7])]]));
    expect(await p).toEqual(new Uint8Array([7]));
  });

  it('retransmits the same bytes on timeout, then gives up with TIMEOUT', async () => {
    const link = new ScriptedLink();
    const c = new HsmClient(link, { timeoutMs: 1000, retries: 2 });
    const p = hsmFailure(c.info());
    await settle();
    expect(link.written.length).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(link.written.length).toBe(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect(link.written.length).toBe(3);
    await vi.advanceTimersByTimeAsync(1000);
    const e = await p;
    expect(link.written.length).toBe(3);
    expect(new Set(link.written.map((w) => Buffer.from(w).toString('hex'))).size).toBe(1);
    expect(e.code).toBe('TIMEOUT');
    expect(e.statusName).toBe('TIMEOUT');
    expect(e.status).toBeUndefined();
    expect(e.message).toMatch(/^TIMEOUT: no answer to INFO .* after 3 tries of 1000 ms \(check the device path/);
  });

  it('a keepalive with the awaited seq restarts the timeout instead of retransmitting', async () => {
    const link = new ScriptedLink();
    const c = new HsmClient(link, { timeoutMs: 1000, retries: 0 });
    const p = c.echo(new Uint8Array([1]));
    await settle();
    const seq = link.last.seq;
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(800);
      link.send(FrameType.KEEPALIVE, seq, 0, new Uint8Array(0));
    }
    // 8 s passed with retries 0 and a 1 s timeout: only keepalives kept it alive
    link.ok(seq, new Map([[1, new Uint8Array([1])]]));
    expect(await p).toEqual(new Uint8Array([1]));
    expect(link.written.length).toBe(1);
  });

  it('maps an error status to HsmError with the device message and the hint', async () => {
    const link = new ScriptedLink();
    const c = new HsmClient(link);
    const p = hsmFailure(c.callClear(Command.KEY_PUBLIC, { keyId: 7 }));
    await settle();
    link.send(
      FrameType.RESPONSE,
      link.last.seq,
      Status.KEY_NOT_FOUND,
      new Map([
        [1, Reason.KEY_NOT_FOUND],
        [2, 7],
      ]),
    );
    const e = await p;
    expect(e.status).toBe(Status.KEY_NOT_FOUND);
    expect(e.statusName).toBe('KEY_NOT_FOUND');
    expect(e.deviceMessage).toMatch(/\b7\b/); // rendered by the host from the reason and the key id
    expect(e.hint).toBe(STATUS_HINTS.KEY_NOT_FOUND);
    expect(e.message).toBe(`KEY_NOT_FOUND: no key with id 7 (${STATUS_HINTS.KEY_NOT_FOUND})`);
    expect(e.command).toBe('KEY_PUBLIC');
    expect(e.fromDevice).toBe(true);
  });

  it('maps ERROR frames, and rejects answers it cannot parse with BAD_RESPONSE', async () => {
    const link = new ScriptedLink();
    const c = new HsmClient(link);
    let p = hsmFailure(c.info());
    await settle();
    link.send(FrameType.ERROR, link.last.seq, Status.PACKET_TOO_LARGE, new Map([[1, 'frame of 9000 bytes']]));
    expect((await p).statusName).toBe('PACKET_TOO_LARGE');

    p = hsmFailure(c.info());
    await settle();
    link.send(FrameType.RESPONSE, link.last.seq, Status.OK, Uint8Array.of(0xa2, 0x02, 0x00, 0x01, 0x00)); // keys out of order
    let e = await p;
    expect(e.code).toBe('BAD_RESPONSE');
    expect(e.message).toMatch(/not deterministic CBOR/);

    p = hsmFailure(c.callClear(Command.RANDOM, { length: 4 }));
    await settle();
    link.ok(link.last.seq, new Map([[1, 'not bytes']]));
    e = await p;
    expect(e.code).toBe('BAD_RESPONSE');
    expect(e.message).toMatch(/RANDOM schema.*bytes/);

    p = hsmFailure(c.info());
    await settle();
    link.send(FrameType.RESPONSE, link.last.seq, 0xfe, new Map([[1, 'from the future']]));
    e = await p;
    expect(e.code).toBe('BAD_RESPONSE');
    expect(e.status).toBe(0xfe);
  });

  it('abort: a queued request leaves the queue, an active one rejects at once, sends CANCEL and holds the link until the device answers', async () => {
    const link = new ScriptedLink();
    const c = new HsmClient(link, { timeoutMs: 60_000 });
    const ac1 = new AbortController();
    const ac2 = new AbortController();
    const first = hsmFailure(c.echo(new Uint8Array([1]), { signal: ac1.signal }));
    const second = hsmFailure(c.echo(new Uint8Array([2]), { signal: ac2.signal }));
    const third = c.echo(new Uint8Array([3]));
    await settle();
    const seq1 = link.last.seq;
    ac2.abort();
    expect((await second).code).toBe('ABORTED');
    ac1.abort();
    const e = await first;
    expect(e.code).toBe('ABORTED');
    expect(e.message).toMatch(/^ABORTED: ECHO was aborted/);
    await settle();
    // the third waits: the device may still be busy with the cancelled one (docs/security.md §7: it answers CANCELLED)
    expect(link.frames.map((f) => [f.type, f.body[0]])).toEqual([
      [FrameType.REQUEST, Command.ECHO],
      [FrameType.CANCEL, undefined],
    ]);
    expect(link.frames[1].seq).toBe(seq1);
    // keepalives of the cancelled request neither reach anyone nor extend the wait
    link.send(FrameType.KEEPALIVE, seq1, 2, new Uint8Array(0));
    // the device's answer to the cancelled request frees the link; it is not delivered to anyone
    link.send(FrameType.RESPONSE, seq1, Status.CANCELLED, new Map([[1, 'cancelled by the host']]));
    await settle();
    expect(link.frames.map((f) => [f.type, f.body[0]])).toEqual([
      [FrameType.REQUEST, Command.ECHO],
      [FrameType.CANCEL, undefined],
      [FrameType.REQUEST, Command.ECHO],
    ]);
    link.ok(link.last.seq, new Map([[1, new Uint8Array([3])]]));
    expect(await third).toEqual(new Uint8Array([3]));
  });

  it('abort: a device that never answers the CANCEL holds the link only for cancelWaitMs', async () => {
    const link = new ScriptedLink();
    const c = new HsmClient(link, { timeoutMs: 60_000, cancelWaitMs: 500 });
    const ac = new AbortController();
    const first = hsmFailure(c.echo(new Uint8Array([1]), { signal: ac.signal }));
    const second = c.echo(new Uint8Array([2]));
    await settle();
    const seq1 = link.last.seq;
    ac.abort();
    expect((await first).code).toBe('ABORTED');
    await vi.advanceTimersByTimeAsync(499);
    expect(link.frames.filter((f) => f.type === FrameType.REQUEST)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(link.frames.filter((f) => f.type === FrameType.REQUEST)).toHaveLength(2);
    // a late answer to the cancelled request is not taken for the second one
    link.ok(seq1, new Map([[1, new Uint8Array([1])]]));
    link.ok(link.last.seq, new Map([[1, new Uint8Array([2])]]));
    expect(await second).toEqual(new Uint8Array([2]));
  });

  it('keepalives are reported to the callback (per call or per client) with their reason; a throwing callback changes nothing', async () => {
    const link = new ScriptedLink();
    const seen: KeepaliveEvent[] = [];
    const c = new HsmClient(link, { timeoutMs: 1000, retries: 0, onKeepalive: (e) => seen.push(e) });
    const p = c.echo(new Uint8Array([1]));
    await settle();
    const seq = link.last.seq;
    link.send(FrameType.KEEPALIVE, seq, KeepaliveReason.PROCESSING, new Uint8Array(0));
    link.send(FrameType.KEEPALIVE, seq, KeepaliveReason.PRESENCE_NEEDED, new Uint8Array(0));
    link.send(FrameType.KEEPALIVE, (seq + 1) & 0xffff, KeepaliveReason.PRESENCE_NEEDED, new Uint8Array(0)); // not ours
    link.ok(seq, new Map([[1, new Uint8Array([1])]]));
    await p;
    expect(seen).toEqual([
      { command: 'ECHO', seq, reason: KeepaliveReason.PROCESSING, presence: false },
      { command: 'ECHO', seq, reason: KeepaliveReason.PRESENCE_NEEDED, presence: true },
    ]);
    const mine: KeepaliveEvent[] = [];
    const q = c.echo(new Uint8Array([2]), {
      onKeepalive: (e) => {
        mine.push(e);
        throw new Error('a broken reporter');
      },
    });
    await settle();
    link.send(FrameType.KEEPALIVE, link.last.seq, KeepaliveReason.PRESENCE_NEEDED, new Uint8Array(0));
    await vi.advanceTimersByTimeAsync(900);
    link.ok(link.last.seq, new Map([[1, new Uint8Array([2])]]));
    expect(await q).toEqual(new Uint8Array([2]));
    expect(mine.map((e) => e.presence)).toEqual([true]);
    expect(seen).toHaveLength(2); // the per-call callback replaced the client's
  });

  it('an already aborted signal rejects without sending anything', async () => {
    const link = new ScriptedLink();
    const c = new HsmClient(link);
    const e = await hsmFailure(c.info({ signal: AbortSignal.abort() }));
    expect(e.code).toBe('ABORTED');
    await settle();
    expect(link.written.length).toBe(0);
  });

  it('a link that closes fails the active and queued requests with CLOSED, and every later one', async () => {
    const link = new ScriptedLink();
    const c = new HsmClient(link);
    const a = hsmFailure(c.info());
    const b = hsmFailure(c.info());
    await settle();
    link.drop('USB unplugged');
    expect((await a).code).toBe('CLOSED');
    expect((await a).message).toMatch(/USB unplugged/);
    expect((await b).code).toBe('CLOSED');
    expect((await hsmFailure(c.info())).code).toBe('CLOSED');
  });

  it('close() fails pending requests and closes the transport', async () => {
    const link = new ScriptedLink();
    const c = new HsmClient(link);
    const a = hsmFailure(c.info());
    await settle();
    await c.close();
    expect((await a).code).toBe('CLOSED');
    expect(link.closed).toBe(true);
  });

  it('a failing write rejects with IO', async () => {
    const link = new ScriptedLink();
    link.failWrites = true;
    const c = new HsmClient(link);
    const e = await hsmFailure(c.info());
    expect(e.code).toBe('IO');
    expect(e.message).toMatch(/EIO: the cable is gone/);
  });

  it('refuses what it cannot send before touching the link', async () => {
    const link = new ScriptedLink();
    const c = new HsmClient(link);
    // PINs are 6 to 64 bytes of UTF-8; roles are user, so or auditor; capabilities have names
    await expect(c.login('user', '12345')).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringContaining('6 to 64 bytes') });
    await expect(c.login('user', 'x'.repeat(65))).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(c.login('admin' as 'so', '123456')).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringContaining('"user", "so" or "auditor"'),
    });
    await expect(c.init({ userPin: '123456', soPin: 'abc' })).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringContaining('the SO PIN') });
    await expect(c.generateKey('ed25519', 'x', { capabilities: ['sign', 'fly'] })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringContaining('"fly"'),
    });
    expect(() => new HsmClient(new ScriptedLink(), { login: { role: 'user', pin: 'short' } })).toThrow(/6 to 64 bytes/);
    expect(() => resolveAlg('rsa-4096')).toThrow(/unknown algorithm "rsa-4096": use one of ed25519, ecdsa-p256, ecdsa-secp256k1, x25519/);
    expect(resolveAlg('Ed25519')).toBe(1);
    await expect(c.generateKey('dsa')).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(c.call(0x1ff)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(c.call(Command.RANDOM, { length: 1.5 })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await settle();
    expect(link.written.length).toBe(0);
  });

  it('speaks the armor on an armor link: one "*"base64 line per frame', async () => {
    const link = new ScriptedLink('armor');
    const c = new HsmClient(link);
    const p = c.echo(new Uint8Array([0x03, 0x00, 0x0a])); // Ctrl-C, NUL and LF never appear raw on the wire
    await settle();
    const text = Buffer.from(link.written[0]).toString('latin1');
    expect(text).toMatch(/^\n\*[A-Za-z0-9+/]+=*\n$/);
    link.ok(link.last.seq, new Map([[1, new Uint8Array([0x03, 0x00, 0x0a])]]));
    expect(await p).toEqual(new Uint8Array([0x03, 0x00, 0x0a]));
  });

  it('HsmError.fromStatus names every status of the table and its hint', () => {
    for (const [name, code] of Object.entries(Status)) {
      if (code === Status.OK) continue;
      const e = HsmError.fromStatus(code, 54, [9]);
      expect(e.statusName).toBe(name);
      expect(e.message).toBe(`${name}: no key with id 9 (${(STATUS_HINTS as Record<string, string>)[name]})`);
    }
  });
});
