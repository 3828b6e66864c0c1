// KEY_ATTEST (docs/security.md §8): the statement's fields, read by cbor-x, and its signature, verified by node:crypto against the identity key the device shows in INFO; imported keys say so; altered records and devices without an identity are refused.
import { msgOf } from '../helpers/message.ts';
import { renderReason } from '../../host/render.ts';
import { describe, it, expect } from 'vitest';
import { createPrivateKey, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { Alg, Capability, Command, Origin, Status } from '../../firmware/protocol/codes.ts';
import { ATTEST_CONTEXT, ATTEST_FORMAT, AttestationStatementSchema } from '../../firmware/protocol/commands/attestation.ts';
import { decodeMessage } from '../../firmware/protocol/schema.ts';
import { COMMANDS } from '../../firmware/protocol/commands/index.ts';
import { cborDecode, cborEncode, type CborMap } from '../../firmware/protocol/cbor.ts';
import { keyAttest } from '../../firmware/core/commands/key_attest.ts';
import { keyGenerate } from '../../firmware/core/commands/key_generate.ts';
import { keyImport } from '../../firmware/core/commands/key_import.ts';
import { keySetPolicy } from '../../firmware/core/commands/key_set_policy.ts';
import { keyRecordKey } from '../../firmware/core/records.ts';
import { Store } from '../../firmware/core/store/index.ts';
import { cborxDecoder } from '../protocol/support.ts';
import { handlerContext, okOf } from '../helpers/devices.ts';
import { hex, startTestDevice, unhex } from '../helpers/loopback.ts';
import { ramSizedFlash } from '../helpers/nor-flash.ts';

const ED25519_SPKI = '302a300506032b6570032100';
const edPublic = (pub: Uint8Array) => createPublicKey({ key: Buffer.concat([Buffer.from(ED25519_SPKI, 'hex'), pub]), format: 'der', type: 'spki' });
const signedBytes = (statement: Uint8Array) => Buffer.concat([Buffer.from(ATTEST_CONTEXT, 'utf8'), Buffer.from([0]), statement]);
/** What a host checks (docs/security.md §8): the signature under the pinned identity key. */
const verifies = (identity: Uint8Array, statement: Uint8Array, signature: Uint8Array) =>
  nodeVerify(null, signedBytes(statement), edPublic(identity), signature);
const nonce = (b: number, n = 32) => new Uint8Array(n).map((_, i) => (b + i) & 0xff);

describe('KEY_ATTEST handler', () => {
  it('a generated key: every field as cbor-x reads it, signed over "tinyhsm/attest/v1" ‖ 0x00 ‖ statement by the identity key', () => {
    const kx = handlerContext({ login: true });
    const ident = kx.ctx.identity!;
    // the identity public key is what OpenSSL derives from the seed: an independent check of the key itself
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), ident.seed]);
    const opensslPub = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }))
      .export({ format: 'der', type: 'spki' })
      .subarray(12);
    expect(hex(ident.publicKey)).toBe(opensslPub.toString('hex'));

    const g = okOf(keyGenerate(kx.ctx, { alg: Alg.ECDSA_P256, label: 'ca', capabilities: Capability.SIGN | Capability.DERIVE, touch: true }));
    const n = nonce(1, 16);
    const r = okOf(keyAttest(kx.ctx, { keyId: g.keyId, nonce: n }));
    expect(r.signature.length).toBe(64);
    expect(verifies(ident.publicKey, r.statement, r.signature)).toBe(true);
    // the signature covers the context label: the bare statement, or another label, does not verify
    expect(nodeVerify(null, r.statement, edPublic(ident.publicKey), r.signature)).toBe(false);
    const m = cborxDecoder.decode(r.statement) as Map<number, unknown>;
    expect([...m.keys()]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(m.get(1)).toBe('tinyhsm-attest-v1');
    expect(hex(m.get(2) as Uint8Array)).toBe(hex(kx.ctx.deviceId));
    expect([m.get(3), m.get(4)]).toEqual([g.keyId, Alg.ECDSA_P256]);
    expect(hex(m.get(5) as Uint8Array)).toBe(hex(g.publicKey));
    expect(m.get(6)).toBe(Origin.GENERATED);
    expect([m.get(7), m.get(8), m.get(9), m.get(10), m.get(11)]).toEqual([Capability.SIGN | Capability.DERIVE, true, true, true, true]);
    expect(hex(m.get(12) as Uint8Array)).toBe(hex(n));
    // deterministic CBOR: our encoder gives the same bytes again from the decoded map
    const d = cborDecode(r.statement);
    expect(d.ok && hex(cborEncode(d.value))).toBe(hex(r.statement));
    expect(ATTEST_FORMAT).toBe('tinyhsm-attest-v1');
  });

  it('an imported key says origin 2 and local false; the statement follows a policy change', () => {
    const kx = handlerContext({ login: true });
    const i = okOf(
      keyImport(kx.ctx, {
        alg: Alg.ED25519,
        label: 'imported',
        privateKey: new Uint8Array(32).fill(0x42),
        capabilities: Capability.SIGN | Capability.EXPORT_WRAPPED,
      }),
    );
    let r = okOf(keyAttest(kx.ctx, { keyId: i.keyId, nonce: nonce(7, 64) }));
    expect(verifies(kx.ctx.identity!.publicKey, r.statement, r.signature)).toBe(true);
    let s = decodeMessage<Record<string, unknown>>(AttestationStatementSchema, statementMap(r.statement));
    expect(s.ok && s.value).toMatchObject({
      origin: Origin.IMPORTED,
      local: false,
      capabilities: Capability.SIGN | Capability.EXPORT_WRAPPED,
      neverExtractable: false,
      sensitive: true,
      touch: false,
    });
    okOf(keySetPolicy(kx.ctx, { keyId: i.keyId, capabilities: Capability.SIGN, touch: true }));
    r = okOf(keyAttest(kx.ctx, { keyId: i.keyId, nonce: nonce(8) }));
    s = decodeMessage<Record<string, unknown>>(AttestationStatementSchema, statementMap(r.statement));
    // export-under-wrap was set once: the key stays "not never-extractable" after the bit is cleared
    expect(s.ok && s.value).toMatchObject({ origin: Origin.IMPORTED, local: false, capabilities: Capability.SIGN, touch: true, neverExtractable: false });
  });

  it('two nonces give two statements, each signed for its own nonce', () => {
    const kx = handlerContext({ login: true });
    const g = okOf(keyGenerate(kx.ctx, { alg: Alg.X25519 }));
    const a = okOf(keyAttest(kx.ctx, { keyId: g.keyId, nonce: nonce(1) }));
    const b = okOf(keyAttest(kx.ctx, { keyId: g.keyId, nonce: nonce(2) }));
    expect(hex(a.statement)).not.toBe(hex(b.statement));
    expect(verifies(kx.ctx.identity!.publicKey, b.statement, a.signature)).toBe(false);
    expect(verifies(kx.ctx.identity!.publicKey, b.statement, b.signature)).toBe(true);
  });

  it('refusals: unknown key, a record altered on flash (it would attest a lie), a device without an identity', () => {
    const flash = ramSizedFlash();
    const kx = handlerContext({ login: true, flash });
    refused(keyAttest(kx.ctx, { keyId: 5, nonce: nonce(0) }), Status.KEY_NOT_FOUND);
    const i = okOf(keyImport(kx.ctx, { alg: Alg.ED25519, privateKey: new Uint8Array(32).fill(3) }));
    // someone with a programmer rewrites origin imported → generated (store CRCs recomputed)
    const store = Store.open(flash);
    const d = cborDecode(store.get(keyRecordKey(i.keyId))!);
    if (!d.ok || !(d.value instanceof Map)) throw new Error('record does not decode');
    d.value.set(4, Origin.GENERATED);
    expect(store.commit([{ key: keyRecordKey(i.keyId), value: cborEncode(d.value) }]).ok).toBe(true);
    const reboot = handlerContext({ login: true, flash });
    refused(keyAttest(reboot.ctx, { keyId: i.keyId, nonce: nonce(0) }), Status.INVALID_KEY, /damaged or was altered/);
    const none = handlerContext({ login: true, identity: false });
    const g = okOf(keyGenerate(none.ctx, { alg: Alg.ED25519 }));
    refused(keyAttest(none.ctx, { keyId: g.keyId, nonce: nonce(0) }), Status.UNSUPPORTED_ALGORITHM, /no identity key/);
  });
});

/** The statement as our decoder reads it (a CBOR map), for the schema check. */
function statementMap(statement: Uint8Array): CborMap {
  const d = cborDecode(statement);
  if (!d.ok || !(d.value instanceof Map)) throw new Error('the statement is not a CBOR map');
  return d.value;
}

function refused(r: { ok: boolean; status?: number; reason?: number; args?: number[] }, status: number, re?: RegExp) {
  expect(r.ok).toBe(false);
  expect(r.status).toBe(status);
  // the device sends a reason and arguments; the host renders the words (docs/protocol.md §2.1)
  if (re) expect(renderReason(r.reason, r.args ?? [])).toMatch(re);
}

describe('KEY_ATTEST through the device (frames, session, login)', () => {
  it('verifies against the identity key from INFO; generated says local, imported says origin 2', () => {
    const t = startTestDevice({ seed: 'attest e2e' });
    const info = t.call(Command.INFO);
    expect(info.status).toBe(Status.OK);
    const identity = info.map.get(10) as Uint8Array;
    expect(hex(identity)).toBe(hex(t.device.identityPublicKey));
    const g = t.call(Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'born here' });
    expect(g.status, g.message).toBe(Status.OK);
    const i = t.call(Command.KEY_IMPORT, { 1: Alg.ECDSA_SECP256K1, 3: unhex('0101010101010101010101010101010101010101010101010101010101010101') });
    expect(i.status, i.message).toBe(Status.OK);
    for (const [id, origin, local] of [
      [g.map.get(1) as number, Origin.GENERATED, true],
      [i.map.get(1) as number, Origin.IMPORTED, false],
    ] as const) {
      const n = nonce(id * 3, 20);
      const r = t.call(Command.KEY_ATTEST, { 1: id, 2: n });
      expect(r.status, r.message).toBe(Status.OK);
      const resp = decodeMessage<{ statement: Uint8Array; signature: Uint8Array }>(COMMANDS[Command.KEY_ATTEST].response, r.map);
      if (!resp.ok) throw new Error(msgOf(resp));
      expect(verifies(identity, resp.value.statement, resp.value.signature)).toBe(true);
      const m = cborxDecoder.decode(resp.value.statement) as Map<number, unknown>;
      expect(hex(m.get(2) as Uint8Array)).toBe(hex(t.device.deviceId));
      expect([m.get(3), m.get(6), m.get(11)]).toEqual([id, origin, local]);
      expect(hex(m.get(12) as Uint8Array)).toBe(hex(n));
    }
  });
});
