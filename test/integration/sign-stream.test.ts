// SIGN_BEGIN / SIGN_UPDATE and SIGN's digests through a real device bundle (docs/protocol.md §4.1): streamed Ed25519 signatures are RFC 8032's, checked by node:crypto; every way of breaking a stream is refused and gives no signature.
import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { ed25519ph } from '@noble/curves/ed25519.js';
import { Command, HsmClient, bytesSource } from '../../host/index.ts';
import { Reason } from '../../firmware/protocol/reasons.ts';
import { MAX_DATA } from '../../firmware/protocol/commands/limits.ts';
import { SIM_LOGIN, SIM_USER_PIN, asSo, inProcessSims, verifyWithNode } from '../helpers/sim.ts';
import { hsmFailure } from '../helpers/hsm-error.ts';

const sims = inProcessSims();
const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());
const sha512 = (b: Uint8Array) => new Uint8Array(createHash('sha512').update(b).digest());
const h = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

async function device(): Promise<HsmClient> {
  return sims.client(await sims.boot(), { login: SIM_LOGIN });
}

/** Stream `msg` by hand: SIGN_BEGIN, then each pass in chunks of `size`; the answer of the last chunk. */
async function stream(c: HsmClient, keyId: number, msg: Uint8Array, size: number, second: Uint8Array = msg) {
  await c.call(Command.SIGN_BEGIN, { keyId, length: msg.length, sha256: sha256(msg) });
  let last: Record<string, unknown> = {};
  for (const [pass, m] of [
    [1, msg],
    [2, second],
  ] as const)
    for (let at = 0; at < m.length; at += size) last = await c.call(Command.SIGN_UPDATE, { pass, offset: at, data: m.subarray(at, at + size) });
  return last;
}

describe('streamed Ed25519 (SIGN_BEGIN, SIGN_UPDATE)', () => {
  it('gives the RFC 8032 signature of the whole message whatever the chunking, and node:crypto verifies it', async () => {
    const c = await device();
    const { keyId, publicKey } = await c.generateKey('ed25519', 'stream');
    for (const [length, size] of [
      [1, 1],
      [3, 1],
      [5000, MAX_DATA],
      [5000, 777],
      [MAX_DATA * 2, MAX_DATA],
    ]) {
      const msg = randomBytes(length);
      const { signature } = await stream(c, keyId, msg, size);
      expect(signature, `${length}/${size}`).toBeInstanceOf(Uint8Array);
      expect(verifyWithNode('ed25519', publicKey, msg, signature as Uint8Array), `${length}/${size}`).toBe(true);
      // deterministic, as RFC 8032 is: the one-shot signature of a short message is the same bytes
      if (length <= MAX_DATA) expect(await c.sign(keyId, { message: msg })).toEqual(signature);
    }
  });

  it('HsmClient.sign streams a long message (bytes or a source) and reports progress', async () => {
    const c = await device();
    const { keyId, publicKey } = await c.generateKey('ed25519', 'long');
    const msg = randomBytes(MAX_DATA * 3 + 11);
    const seen: number[] = [];
    const sig = await c.sign(keyId, { message: msg }, { onProgress: (done, total) => seen.push(done / total) });
    expect(verifyWithNode('ed25519', publicKey, msg, sig)).toBe(true);
    expect(seen.at(-1)).toBe(1);
    expect(await c.sign(keyId, { message: bytesSource(msg) })).toEqual(sig);
    // a key whose public key the caller read first is not asked for again: one KEY_PUBLIC, then the stream
    const { keyId: other } = await c.generateKey('ed25519', 'read-first');
    const from = (await c.auditCheckpoint()).next;
    await c.publicKey(other);
    await c.sign(other, { message: msg });
    expect((await c.auditReadAll(from)).entries.map((e) => e.command)).toEqual(['KEY_PUBLIC', 'SIGN_BEGIN']);
  });

  it('a touch key: SIGN_BEGIN waits for the button; cancelled, no stream is open; one press signs the whole stream', async () => {
    const sim = await sims.boot();
    const c = sims.client(sim, { login: SIM_LOGIN });
    const { keyId, publicKey } = await c.generateKey('ed25519', 'touch', { touch: true });
    const m = randomBytes(MAX_DATA * 2 + 5);
    const ac = new AbortController();
    const begin = { keyId, length: m.length, sha256: sha256(m) };
    const aborted = await hsmFailure(c.call(Command.SIGN_BEGIN, begin, { signal: ac.signal, onKeepalive: () => ac.abort() }));
    expect(aborted.statusName).toBe('ABORTED');
    expect((await hsmFailure(c.call(Command.SIGN_UPDATE, { pass: 1, offset: 0, data: m.subarray(0, 10) }))).reason).toBe(Reason.NO_SIGN_STREAM);
    let presses = 0;
    const sig = await c.sign(keyId, { message: m }, { onKeepalive: (e) => e.presence && presses++ === 0 && sim.pressButton() });
    expect(presses).toBeGreaterThan(0);
    expect(verifyWithNode('ed25519', publicKey, m, sig)).toBe(true);
  });

  it('a second pass of other bytes gives no signature (STREAM_MISMATCH [2]) and ends the stream: one nonce never signs two messages', async () => {
    const c = await device();
    const { keyId } = await c.generateKey('ed25519', 'attack');
    const m = randomBytes(64);
    const other = Uint8Array.from(m);
    other[63] ^= 1;
    const e = await hsmFailure(stream(c, keyId, m, 64, other));
    expect([e.statusName, e.reason, e.args]).toEqual(['INVALID_PARAMETER', Reason.STREAM_MISMATCH, [2]]);
    const after = await hsmFailure(c.call(Command.SIGN_UPDATE, { pass: 2, offset: 0, data: m }));
    expect([after.statusName, after.reason]).toEqual(['OPERATION_NOT_PERMITTED', Reason.NO_SIGN_STREAM]);
  });

  it('a first pass that is not the message SIGN_BEGIN named is refused at its end (STREAM_MISMATCH [1])', async () => {
    const c = await device();
    const { keyId } = await c.generateKey('ed25519', 'lie');
    const m = randomBytes(10);
    await c.call(Command.SIGN_BEGIN, { keyId, length: 10, sha256: sha256(randomBytes(10)) });
    const e = await hsmFailure(c.call(Command.SIGN_UPDATE, { pass: 1, offset: 0, data: m }));
    expect([e.statusName, e.reason, e.args]).toEqual(['INVALID_PARAMETER', Reason.STREAM_MISMATCH, [1]]);
  });

  it('a chunk out of place or past the end changes nothing: the right one still completes a valid signature', async () => {
    const c = await device();
    const { keyId, publicKey } = await c.generateKey('ed25519', 'order');
    const m = randomBytes(20);
    await c.call(Command.SIGN_BEGIN, { keyId, length: 20, sha256: sha256(m) });
    await c.call(Command.SIGN_UPDATE, { pass: 1, offset: 0, data: m.subarray(0, 10) });
    for (const [req, want] of [
      [{ pass: 1, offset: 0, data: m.subarray(0, 10) }, [Reason.STREAM_POSITION, [1, 10]]],
      [{ pass: 2, offset: 10, data: m.subarray(10) }, [Reason.STREAM_POSITION, [1, 10]]],
      [{ pass: 1, offset: 10, data: randomBytes(11) }, [Reason.STREAM_PAST_END, [20]]],
    ] as const) {
      const e = await hsmFailure(c.call(Command.SIGN_UPDATE, req));
      expect([e.statusName, e.reason, e.args]).toEqual(['INVALID_PARAMETER', ...want]);
    }
    await c.call(Command.SIGN_UPDATE, { pass: 1, offset: 10, data: m.subarray(10) });
    await c.call(Command.SIGN_UPDATE, { pass: 2, offset: 0, data: m });
    const e = await hsmFailure(c.call(Command.SIGN_UPDATE, { pass: 2, offset: 20, data: m.subarray(0, 1) }));
    expect(e.reason).toBe(Reason.NO_SIGN_STREAM);
    // the stream ended with the pass-2 chunk that reached the length: that answer carried the signature
    await c.call(Command.SIGN_BEGIN, { keyId, length: 20, sha256: sha256(m) });
    await c.call(Command.SIGN_UPDATE, { pass: 1, offset: 0, data: m });
    const { signature } = await c.call(Command.SIGN_UPDATE, { pass: 2, offset: 0, data: m });
    expect(verifyWithNode('ed25519', publicKey, m, signature as Uint8Array)).toBe(true);
  });

  it('a logout, a deleted key, a changed policy or a new SIGN_BEGIN ends the stream; another session cannot feed it', async () => {
    const c = await device();
    const { keyId } = await c.generateKey('ed25519', 'ends');
    const { keyId: other } = await c.generateKey('ed25519', 'other');
    const m = randomBytes(8);
    const begin = () => c.call(Command.SIGN_BEGIN, { keyId, length: 8, sha256: sha256(m) });
    const feed = (cl: HsmClient) => cl.call(Command.SIGN_UPDATE, { pass: 1, offset: 0, data: m });

    await begin();
    await c.logout();
    await c.login('user', SIM_USER_PIN);
    expect((await hsmFailure(feed(c))).reason).toBe(Reason.NO_SIGN_STREAM);

    await begin();
    await c.keySetPolicy(keyId, { touch: false, sensitive: true, capabilities: ['sign'] });
    // an unchanged policy writes nothing and keeps the record: the stream goes on
    await feed(c);
    await begin();
    await c.keySetPolicy(keyId, { touch: true });
    const changed = await hsmFailure(feed(c));
    expect([changed.statusName, changed.reason, changed.args]).toEqual(['KEY_NOT_FOUND', Reason.STREAM_KEY_CHANGED, [keyId]]);

    await c.call(Command.SIGN_BEGIN, { keyId: other, length: 8, sha256: sha256(m) });
    await c.deleteKey(other);
    expect((await hsmFailure(feed(c))).reason).toBe(Reason.STREAM_KEY_CHANGED);

    const { keyId: third, publicKey } = await c.generateKey('ed25519', 'third');
    await c.call(Command.SIGN_BEGIN, { keyId: third, length: 8, sha256: sha256(randomBytes(8)) });
    // a second SIGN_BEGIN replaces the first: the message it names is the one that signs
    await c.call(Command.SIGN_BEGIN, { keyId: third, length: 8, sha256: sha256(m) });
    await feed(c);
    const { signature } = await c.call(Command.SIGN_UPDATE, { pass: 2, offset: 0, data: m });
    expect(verifyWithNode('ed25519', publicKey, m, signature as Uint8Array)).toBe(true);
  });

  it("another session, even of the same user, cannot feed a session's stream", async () => {
    const sim = await sims.boot();
    const [a, b] = [sims.client(sim, { login: SIM_LOGIN }), sims.client(sim, { login: SIM_LOGIN })];
    const { keyId, publicKey } = await a.generateKey('ed25519', 'mine');
    const m = randomBytes(8);
    await a.call(Command.SIGN_BEGIN, { keyId, length: 8, sha256: sha256(m) });
    const e = await hsmFailure(b.call(Command.SIGN_UPDATE, { pass: 1, offset: 0, data: m }));
    expect(e.reason).toBe(Reason.NO_SIGN_STREAM);
    await a.call(Command.SIGN_UPDATE, { pass: 1, offset: 0, data: m });
    const { signature } = await a.call(Command.SIGN_UPDATE, { pass: 2, offset: 0, data: m });
    expect(verifyWithNode('ed25519', publicKey, m, signature as Uint8Array)).toBe(true);
  });

  it('only Ed25519 streams, only with the sign capability, and SIGN_BEGIN is recorded in the audit log while SIGN_UPDATE is not', async () => {
    const c = await device();
    const { keyId: p256 } = await c.generateKey('ecdsa-p256', 'p');
    const e = await hsmFailure(c.call(Command.SIGN_BEGIN, { keyId: p256, length: 5, sha256: sha256(randomBytes(5)) }));
    expect([e.statusName, e.reason, e.args]).toEqual(['OPERATION_NOT_PERMITTED', Reason.STREAM_ED25519_ONLY, [p256, 2]]);
    const { keyId: derive } = await c.generateKey('ed25519', 'no-sign', { capabilities: ['export-under-wrap'] });
    expect((await hsmFailure(c.call(Command.SIGN_BEGIN, { keyId: derive, length: 5, sha256: sha256(randomBytes(5)) }))).statusName).toBe('POLICY_DENIED');
    const { keyId } = await c.generateKey('ed25519', 'audited');
    const from = (await c.auditCheckpoint()).next;
    await stream(c, keyId, randomBytes(50), 10);
    const { entries } = await c.auditReadAll(from);
    expect(entries.map((x) => [x.command, x.status, x.keyId])).toEqual([['SIGN_BEGIN', 'OK', keyId]]);
  });
});

describe('SIGN with a digest', () => {
  it('Ed25519ph: RFC 8032 §7.3 TEST abc byte for byte, and a context as RFC 8032 §5.1 dom2 gives it (checked by noble ed25519ph)', async () => {
    const c = await device();
    // RFC 8032 §7.3, "TEST abc"
    const seed = h('833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42');
    const { keyId, publicKey } = await asSo(c, () => c.importKey('ed25519', seed, 'rfc8032-ph'));
    expect(Buffer.from(publicKey).toString('hex')).toBe('ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf');
    const abc = new TextEncoder().encode('abc');
    const sig = await c.sign(keyId, { digest: sha512(abc), prehashed: true });
    expect(Buffer.from(sig).toString('hex')).toBe(
      '98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406',
    );
    // the host hashes a message given with prehashed
    expect(await c.sign(keyId, { message: abc, prehashed: true })).toEqual(sig);
    const context = new TextEncoder().encode('tinyhsm test');
    const withCtx = await c.sign(keyId, { message: abc, prehashed: true, context });
    expect(withCtx).not.toEqual(sig);
    expect(ed25519ph.verify(withCtx, abc, publicKey, { context })).toBe(true);
    expect(ed25519ph.verify(withCtx, abc, publicKey)).toBe(false);
  });

  it('ECDSA over a long message: the host hashes it and node:crypto verifies the signature of the message', async () => {
    const c = await device();
    const { keyId, publicKey } = await c.generateKey('ecdsa-p256', 'ec');
    const msg = randomBytes(100_000);
    expect(verifyWithNode('ecdsa-p256', publicKey, msg, await c.sign(keyId, { message: msg }))).toBe(true);
  });

  it('refuses a digest of the wrong length, prehashed where it does not apply, and a context without prehashed; nothing is signed', async () => {
    const c = await device();
    const { keyId: ed } = await c.generateKey('ed25519', 'ed');
    const { keyId: ec } = await c.generateKey('ecdsa-p256', 'ec');
    const cases: [object, string, number, number[]][] = [
      [{ keyId: ec, digest: randomBytes(64) }, 'INVALID_PARAMETER', Reason.DIGEST_WRONG_LENGTH, [64, 32]],
      [{ keyId: ed, digest: randomBytes(32), prehashed: true }, 'INVALID_PARAMETER', Reason.DIGEST_WRONG_LENGTH, [32, 64]],
      [{ keyId: ed, digest: randomBytes(64) }, 'OPERATION_NOT_PERMITTED', Reason.ED25519_NEEDS_MESSAGE, [ed]],
      [{ keyId: ec, digest: randomBytes(32), prehashed: true }, 'OPERATION_NOT_PERMITTED', Reason.PREHASH_ED25519_ONLY, [ec, 2]],
      [{ keyId: ed, message: randomBytes(3), prehashed: true }, 'INVALID_PARAMETER', Reason.PREHASH_NEEDS_DIGEST, []],
      [{ keyId: ed, message: randomBytes(3), context: randomBytes(2) }, 'INVALID_PARAMETER', Reason.CONTEXT_NEEDS_PREHASH, []],
    ];
    for (const [req, status, reason, args] of cases) {
      const e = await hsmFailure(c.call(Command.SIGN, req));
      expect([e.statusName, e.reason, e.args], JSON.stringify(Object.keys(req))).toEqual([status, reason, args]);
    }
  });
});
