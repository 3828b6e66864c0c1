// Timeouts and retransmission over a faulty link: the host resends the SAME frame (same seq, same session envelope), the device answers from its reply cache and never executes twice.
import { afterEach, describe, expect, it } from 'vitest';
import { Command, FrameReader, FrameType, toHex } from '../../firmware/protocol/index.ts';
import { HsmError } from '../../host/index.ts';
import { startInProcess, verifyWithNode, type InProcessHandle } from '../helpers/sim.ts';
import type { Direction } from '../../sim/index.ts';

/** Short timeouts so a lost answer costs a fraction of a second; nothing here asserts on time. */
const CLIENT = { timeoutMs: 400, retries: 3 };

const open: InProcessHandle[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) {
    expect(h.sim.deviceFaults).toEqual([]);
    await h.close();
  }
});

interface Seen {
  dir: Direction;
  type: number;
  seq: number;
  command: number;
  /** header | body | CRC, as decoded from the wire */
  packet: string;
}

/** A simulator whose link is recorded frame by frame, as each side sent it (before faults). */
async function recorded() {
  const h = await startInProcess({}, CLIENT);
  open.push(h);
  const seen: Seen[] = [];
  const readers = { toDevice: new FrameReader(65535), toHost: new FrameReader(65535) };
  h.sim.onWire((dir, bytes) => {
    for (const ev of readers[dir].push(bytes))
      if (ev.kind === 'frame') {
        const f = ev.frame;
        seen.push({ dir, type: f.type, seq: f.seq, command: f.body[0], packet: f.seq + ':' + f.type + ':' + toHex(f.body) });
      }
  });
  return { ...h, seen };
}

const requestsFor = (seen: Seen[], command: number) => seen.filter((s) => s.dir === 'toDevice' && s.type === FrameType.REQUEST && s.command === command);
/**
 * Gated commands travel sealed (docs/session.md §4): on the wire each is a SESSION_MESSAGE whose inner command
 * cannot be read. Every test below opens the session first (an ECHO does not need one, so a LIST does), so the
 * envelopes recorded after `mark` are the command under test.
 */
const envelopesAfter = (seen: Seen[], mark: number) => requestsFor(seen.slice(mark), Command.SESSION_MESSAGE);

/** Open the session before faults are armed, so the fault hits the command under test, not SESSION_OPEN. */
async function withSession(h: { client: { listKeys(): Promise<unknown[]> } }) {
  expect(await h.client.listKeys()).toEqual([]);
}

describe('retransmission', () => {
  it('a dropped KEY_GENERATE answer: the client resends the same frame and the device makes ONE key', async () => {
    const { sim, client, seen } = await recorded();
    await withSession({ client });
    const mark = seen.length;
    sim.faults.dropFrames(1, 'toHost');
    const k = await client.generateKey('ed25519', 'once');

    const reqs = envelopesAfter(seen, mark);
    expect(reqs.length).toBe(2);
    expect(reqs[1].seq).toBe(reqs[0].seq);
    expect(reqs[1].packet).toBe(reqs[0].packet);
    // the device answered twice, the same bytes (the second from its reply cache)
    const answers = seen.filter((s) => s.dir === 'toHost' && s.seq === reqs[0].seq);
    expect(answers.length).toBe(2);
    expect(answers[1].packet).toBe(answers[0].packet);

    const keys = await client.listKeys();
    expect(keys.length).toBe(1);
    expect(keys[0].keyId).toBe(k.keyId);
    expect(toHex(keys[0].publicKey)).toBe(toHex(k.publicKey));
    const message = new Uint8Array([5, 6, 7]);
    expect(verifyWithNode('ed25519', k.publicKey, message, await client.sign(k.keyId, { message }))).toBe(true);
  });

  it('a corrupted answer (bad CRC) is dropped by the host, which retransmits and gets the cached answer', async () => {
    const { sim, client, seen } = await recorded();
    await withSession({ client });
    const mark = seen.length;
    sim.faults.corruptFrames(1, 'toHost');
    const k = await client.generateKey('ecdsa-p256');
    const reqs = envelopesAfter(seen, mark);
    expect(reqs.length).toBe(2);
    expect(reqs[1].packet).toBe(reqs[0].packet);
    expect((await client.listKeys()).map((x) => x.keyId)).toEqual([k.keyId]);
  });

  it('a few lost bytes of an answer: same recovery', async () => {
    const { sim, client, seen } = await recorded();
    await withSession({ client });
    const mark = seen.length;
    sim.faults.dropBytes(3, 'toHost');
    const k = await client.generateKey('x25519');
    expect(envelopesAfter(seen, mark).length).toBe(2);
    expect((await client.listKeys()).map((x) => x.keyId)).toEqual([k.keyId]);
  });

  it('a corrupted request is dropped by the device; the retransmission is executed once', async () => {
    const { sim, client, seen } = await recorded();
    await withSession({ client });
    const mark = seen.length;
    sim.faults.corruptFrames(1, 'toDevice');
    const k = await client.generateKey('ed25519');
    expect(envelopesAfter(seen, mark).length).toBe(2);
    // only the intact copy was answered
    expect(seen.slice(mark).filter((s) => s.dir === 'toHost' && s.type === FrameType.RESPONSE).length).toBe(1);
    expect((await client.listKeys()).map((x) => x.keyId)).toEqual([k.keyId]);
  });

  it('a duplicated request frame is answered twice from one execution; the host ignores the extra answer', async () => {
    const { sim, client, seen } = await recorded();
    await withSession({ client });
    const mark = seen.length;
    sim.faults.duplicateFrames(1, 'toDevice');
    const k = await client.generateKey('ed25519');
    const echo = await client.echo(new Uint8Array([1, 2, 3])); // the next exchange is not confused by the stray answer
    expect(echo).toEqual(new Uint8Array([1, 2, 3]));
    const reqs = envelopesAfter(seen, mark);
    expect(reqs.length).toBe(1); // the host sent it once; the link doubled it
    const answers = seen.filter((s) => s.dir === 'toHost' && s.type === FrameType.RESPONSE && s.seq === reqs[0].seq);
    expect(answers.length).toBe(2);
    expect(answers[1].packet).toBe(answers[0].packet);
    expect((await client.listKeys()).map((x) => x.keyId)).toEqual([k.keyId]);
  });

  it('a duplicated answer is ignored', async () => {
    const { sim, client } = await recorded();
    await withSession({ client });
    sim.faults.duplicateFrames(1, 'toHost');
    const k = await client.generateKey('ed25519');
    expect((await client.listKeys()).map((x) => x.keyId)).toEqual([k.keyId]);
  });

  it('gives up with TIMEOUT after every try, and the device still executed the command only once', async () => {
    const { sim, client, seen } = await recorded();
    await withSession({ client });
    const mark = seen.length;
    sim.faults.dropFrames(CLIENT.retries + 1, 'toHost');
    const e = await client.generateKey('ed25519').then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(HsmError);
    expect((e as HsmError).code).toBe('TIMEOUT');
    expect((e as HsmError).status).toBeUndefined();
    expect((e as HsmError).message).toMatch(/^TIMEOUT: no answer to KEY_GENERATE .* after 4 tries of 400 ms/);
    const reqs = envelopesAfter(seen, mark);
    expect(reqs.length).toBe(CLIENT.retries + 1);
    expect(new Set(reqs.map((r) => r.packet)).size).toBe(1);
    expect(sim.faults.pending).toBe(0);
    expect((await client.listKeys()).length).toBe(1);
  });

  it('a new request after a lost one gets a new seq and is executed', async () => {
    const { sim, client, seen } = await recorded();
    await withSession({ client });
    const mark = seen.length;
    sim.faults.dropFrames(1, 'toHost');
    const a = await client.generateKey('ed25519');
    const b = await client.generateKey('ed25519');
    expect(b.keyId).not.toBe(a.keyId);
    const reqs = envelopesAfter(seen, mark);
    expect(reqs.length).toBe(3);
    // a new request is a new envelope: another counter, so other ciphertext
    expect(reqs[2].packet.split(':')[2]).not.toBe(reqs[0].packet.split(':')[2]);
    expect(reqs[2].seq).toBe((reqs[0].seq + 1) & 0xffff);
    expect((await client.listKeys()).length).toBe(2);
  });
});
