// CKA_LABEL and CKA_ID in the 32-byte device label (docs/pkcs11.md §4.1): the plain form where it fits, the digest form where it does not (Teleport's 36-character host UUID and 16-byte id), its strict recognition, the attributes (originals or stand-ins), matching by value and by digest, and the originals in the public-object cache (§4.2).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Alg } from '../../firmware/protocol/index.ts';
import { CKA, CKM, CKO } from '../../host/pkcs11/constants.ts';
import { PublicCache } from '../../host/pkcs11/cache.ts';
import {
  carryOriginals,
  decodeDeviceLabel,
  digestForm,
  encodeDeviceLabel,
  matches,
  objectOf,
  p11Digest,
  planKeygen,
  type DeviceKey,
} from '../../host/pkcs11/objects.ts';

const S = '\u001f';
const b = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
/** D(tag, x) computed here from the definition, independently of p11Digest. */
const D = (tag: string, x: Uint8Array) =>
  createHash('sha256')
    .update(Buffer.concat([Buffer.from('tinyhsm-p11 ', 'ascii'), Buffer.from(tag, 'ascii'), Buffer.of(0), x]))
    .digest()
    .subarray(0, 9)
    .toString('base64url');

// Teleport's shape: CKA_LABEL the host UUID as text, CKA_ID the 16 raw bytes of another UUID
const HOST_UUID = b('9b2d5e1c-7a40-4c2e-9f43-1f0c2b7d8e11');
const KEY_ID = Uint8Array.from(Buffer.from('3f1c8a9e52d04b7fa1e6c0d9b4a27e15', 'hex'));
const TELEPORT = S + D('label', HOST_UUID) + S + D('id', KEY_ID);

const key = (label: string, extra: Partial<DeviceKey> = {}): DeviceKey => ({
  keyId: 0x0107,
  alg: Alg.ECDSA_P256,
  label,
  publicKey: new Uint8Array(65).fill(4),
  capabilities: 1,
  sensitive: true,
  neverExtractable: true,
  local: true,
  ...extra,
});
const t = (type: number, value: boolean | bigint | Uint8Array) => ({ type, value });
const hexOf = (v: unknown) => Buffer.from(v as Uint8Array).toString('hex');

describe('encoding: the plain form where it fits, else the digest form', () => {
  it('D is base64url of the first 9 bytes of SHA-256("tinyhsm-p11 " ‖ tag ‖ 0x00 ‖ x): 12 characters', () => {
    expect(p11Digest('label', HOST_UUID)).toBe(D('label', HOST_UUID));
    expect(p11Digest('id', KEY_ID)).toBe(D('id', KEY_ID));
    expect(p11Digest('id', new Uint8Array(0))).toHaveLength(12);
    // the tag separates the two: the same bytes give different digests as a label and as an id
    expect(p11Digest('label', KEY_ID)).not.toBe(p11Digest('id', KEY_ID));
  });

  it("Teleport's label and id (59 bytes in the plain form) take 26 bytes as digests, with the originals to keep", () => {
    const r = encodeDeviceLabel(HOST_UUID, KEY_ID);
    expect(r).toEqual({ ok: true, text: TELEPORT, originals: { label: HOST_UUID, id: KEY_ID } });
    expect(Buffer.byteLength(TELEPORT)).toBe(26);
  });

  it('boundaries: exactly 32 bytes is plain, 33 is the digest form (ASCII, multi-byte UTF-8, with and without an id)', () => {
    expect(encodeDeviceLabel(b('x'.repeat(32)), undefined)).toEqual({ ok: true, text: 'x'.repeat(32) });
    expect(encodeDeviceLabel(b('x'.repeat(33)), undefined)).toEqual({
      ok: true,
      text: S + D('label', b('x'.repeat(33))) + S,
      originals: { label: b('x'.repeat(33)) },
    });
    // 9 + 1 + 22 = 32 with a 16-byte id; one more label byte is 33
    expect(encodeDeviceLabel(b('x'.repeat(9)), KEY_ID)).toEqual({ ok: true, text: 'x'.repeat(9) + S + Buffer.from(KEY_ID).toString('base64url') });
    const over = encodeDeviceLabel(b('x'.repeat(10)), KEY_ID);
    expect(over.ok && over.text).toBe(S + D('label', b('x'.repeat(10))) + S + D('id', KEY_ID));
    expect(encodeDeviceLabel(b('é'.repeat(16)), undefined)).toEqual({ ok: true, text: 'é'.repeat(16) });
    expect(encodeDeviceLabel(b('é'.repeat(16) + 'a'), undefined)).toEqual({
      ok: true,
      text: S + D('label', b('é'.repeat(16) + 'a')) + S,
      originals: { label: b('é'.repeat(16) + 'a') },
    });
    // no CKA_LABEL and an id too long for the plain form: the label digest is of the empty label
    const noLabel = encodeDeviceLabel(undefined, new Uint8Array(40));
    expect(noLabel).toEqual({
      ok: true,
      text: S + D('label', new Uint8Array(0)) + S + D('id', new Uint8Array(40)),
      originals: { label: new Uint8Array(0), id: new Uint8Array(40) },
    });
  });

  it('C_GenerateKeyPair with Teleport’s template plans the digest form and carries the originals', () => {
    const p256 = t(CKA.EC_PARAMS, Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07));
    const plan = planKeygen(
      CKM.EC_KEY_PAIR_GEN,
      [p256, t(CKA.ID, KEY_ID), t(CKA.LABEL, HOST_UUID)],
      [t(CKA.ID, KEY_ID), t(CKA.LABEL, HOST_UUID)],
      [Alg.ECDSA_P256],
    );
    expect(plan).toEqual({
      ok: true,
      alg: Alg.ECDSA_P256,
      label: TELEPORT,
      capabilities: ['sign'],
      sensitive: true,
      originals: { label: HOST_UUID, id: KEY_ID },
    });
  });
});

describe('decoding: the digest form recognised strictly', () => {
  const d12 = D('label', HOST_UUID);
  const i12 = D('id', KEY_ID);
  it('the digest form: stand-ins without originals (the label as stored, the 9 id digest bytes, or the key id)', () => {
    expect(decodeDeviceLabel(TELEPORT, 0x0107)).toEqual({
      label: b(TELEPORT),
      id: new Uint8Array(Buffer.from(i12, 'base64url')),
      digests: { label: d12, id: i12 },
    });
    expect(decodeDeviceLabel(TELEPORT, 1).id).toHaveLength(9);
    expect(decodeDeviceLabel(S + d12 + S, 0x0107)).toEqual({ label: b(S + d12 + S), id: Uint8Array.of(1, 7), digests: { label: d12 } });
  });

  it('the originals when they match the digests; ones that do not match are not used', () => {
    expect(decodeDeviceLabel(TELEPORT, 7, { p11Label: HOST_UUID, p11Id: KEY_ID })).toEqual({ label: HOST_UUID, id: KEY_ID, digests: { label: d12, id: i12 } });
    const wrong = decodeDeviceLabel(TELEPORT, 7, { p11Label: b('another-host'), p11Id: Uint8Array.of(1) });
    expect(wrong.label).toEqual(b(TELEPORT));
    expect(wrong.id).toEqual(new Uint8Array(Buffer.from(i12, 'base64url')));
    // an id original where the label has no id part is not used either
    expect(decodeDeviceLabel(S + d12 + S, 7, { p11Label: HOST_UUID, p11Id: KEY_ID })).toMatchObject({ label: HOST_UUID, id: Uint8Array.of(0, 7) });
    // originals do nothing for a plain label
    expect(decodeDeviceLabel('ca', 7, { p11Label: HOST_UUID })).toEqual({ label: b('ca'), id: Uint8Array.of(0, 7) });
  });

  it('near-misses are plain labels: a character more or less, other characters, a third separator, text around', () => {
    const misses = [
      S + d12.slice(1) + S + i12,
      S + d12 + 'A' + S + i12,
      S + d12 + S + i12.slice(1),
      S + d12 + S + i12 + 'A',
      S + d12.slice(0, 11) + '+' + S + i12,
      S + d12 + S + i12.slice(0, 11) + '=',
      S + d12 + S + i12 + S,
      S + d12 + S + i12 + '\n',
      'x' + TELEPORT,
      S + d12 + S + S,
      S + S + i12,
      S + d12,
    ];
    for (const m of misses) {
      expect(digestForm(m), JSON.stringify(m)).toBeUndefined();
      const r = decodeDeviceLabel(m, 0x0203);
      expect(r.digests).toBeUndefined();
      if (m === S + d12)
        expect(r).toEqual({ label: new Uint8Array(0), id: new Uint8Array(Buffer.from(d12, 'base64url')) }); // the plain form: empty label, a 9-byte id
      else expect(r).toEqual({ label: b(m), id: Uint8Array.of(2, 3) });
    }
    expect(digestForm(TELEPORT)).toEqual({ label: d12, id: i12 });
    expect(digestForm(S + d12 + S)).toEqual({ label: d12 });
  });

  it('every plain form round-trips and is never read as the digest form', () => {
    for (const [l, id] of [
      ['', undefined],
      ['', new Uint8Array(9)],
      ['teleport', Uint8Array.of(0x7e, 0x1e, 0x90, 0x47)],
      ['x'.repeat(9), KEY_ID],
      ['x'.repeat(32), undefined],
    ] as const) {
      const r = encodeDeviceLabel(b(l), id);
      expect(r.ok && r.originals).toBeUndefined();
      if (!r.ok) continue;
      expect(digestForm(r.text)).toBeUndefined();
      expect(decodeDeviceLabel(r.text, 0x0203)).toEqual({ label: b(l), id: id ?? Uint8Array.of(2, 3) });
    }
  });
});

describe('attributes and matching of a digest-form key', () => {
  const privClass = [t(CKA.CLASS, BigInt(CKO.PRIVATE_KEY))];
  it('with the originals: CKA_LABEL and CKA_ID read back as given; a search by them matches', () => {
    const k = key(TELEPORT, { p11Label: HOST_UUID, p11Id: KEY_ID });
    for (const o of [objectOf(k, false), objectOf(k, true)]) {
      expect(o.attrs.get(CKA.LABEL)).toEqual(HOST_UUID);
      expect(o.attrs.get(CKA.ID)).toEqual(KEY_ID);
      expect(matches(o, [t(CKA.ID, KEY_ID), t(CKA.LABEL, HOST_UUID)])).toBe(true);
      expect(matches(o, [t(CKA.LABEL, HOST_UUID)])).toBe(true);
    }
    expect(matches(objectOf(k, true), [...privClass, t(CKA.ID, KEY_ID), t(CKA.LABEL, HOST_UUID)])).toBe(true);
    expect(matches(objectOf(k, false), [...privClass, t(CKA.LABEL, HOST_UUID)])).toBe(false);
  });

  it('without them: stand-ins read back; a search by the originals matches by digest, one by the stand-ins by equality', () => {
    const o = objectOf(key(TELEPORT), true);
    const standInLabel = o.attrs.get(CKA.LABEL) as Uint8Array;
    const standInId = o.attrs.get(CKA.ID) as Uint8Array;
    expect(standInLabel).toEqual(b(TELEPORT));
    expect(hexOf(standInId)).toBe(Buffer.from(D('id', KEY_ID), 'base64url').toString('hex'));
    expect(matches(o, [t(CKA.ID, KEY_ID), t(CKA.LABEL, HOST_UUID)])).toBe(true);
    expect(matches(o, [t(CKA.ID, standInId), t(CKA.LABEL, standInLabel)])).toBe(true);
    // crypto11's makeKeyPair: CKA_ID and CKA_LABEL read from the private key find the public one
    expect(matches(objectOf(key(TELEPORT), false), [t(CKA.CLASS, BigInt(CKO.PUBLIC_KEY)), t(CKA.ID, standInId), t(CKA.LABEL, standInLabel)])).toBe(true);
  });

  it('values that are neither the object’s nor the digests’ do not match', () => {
    for (const k of [key(TELEPORT), key(TELEPORT, { p11Label: HOST_UUID, p11Id: KEY_ID })]) {
      const o = objectOf(k, true);
      expect(matches(o, [t(CKA.LABEL, b('9b2d5e1c-7a40-4c2e-9f43-1f0c2b7d8e12'))])).toBe(false);
      expect(matches(o, [t(CKA.ID, KEY_ID.slice(1))])).toBe(false);
      expect(matches(o, [t(CKA.ID, KEY_ID), t(CKA.LABEL, b('other'))])).toBe(false);
      // the label's value is not the id's, nor the reverse: the tags differ
      expect(matches(o, [t(CKA.ID, HOST_UUID)])).toBe(false);
      expect(matches(o, [t(CKA.LABEL, KEY_ID)])).toBe(false);
      // a CKA_ID without a value never matches
      expect(matches(o, [{ type: CKA.ID, value: null }])).toBe(false);
    }
    // with the originals, the object's CKA_LABEL is the original: the stand-in is not its value
    expect(matches(objectOf(key(TELEPORT, { p11Label: HOST_UUID }), true), [t(CKA.LABEL, b(TELEPORT))])).toBe(false);
  });

  it('an empty id part: CKA_ID is the 2-byte key id and matches by equality only', () => {
    const text = S + D('label', b('x'.repeat(40))) + S;
    const o = objectOf(key(text), false);
    expect(o.attrs.get(CKA.ID)).toEqual(Uint8Array.of(1, 7));
    expect(matches(o, [t(CKA.ID, Uint8Array.of(1, 7)), t(CKA.LABEL, b('x'.repeat(40)))])).toBe(true);
    expect(matches(o, [t(CKA.ID, new Uint8Array(0))])).toBe(false);
    expect(matches(o, [t(CKA.ID, KEY_ID)])).toBe(false);
  });

  it('a plain-form key matches exactly as before: by equality, never by digest', () => {
    const o = objectOf(key('teleport\u001ffh6QRw'), false);
    expect(o.digests).toBeUndefined();
    expect(matches(o, [t(CKA.LABEL, b('teleport')), t(CKA.ID, Uint8Array.of(0x7e, 0x1e, 0x91, 0x47))])).toBe(false);
    expect(matches(o, [t(CKA.LABEL, b('teleport'))])).toBe(true);
    expect(matches(o, [t(CKA.LABEL, b('teleport\u001ffh6QRw'))])).toBe(false);
  });
});

describe('the originals in the public-object cache (docs/pkcs11.md §4.2)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-p11labels-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const DEV = 'aa'.repeat(16);

  it('round trip with the new fields (hex) and without them', () => {
    const c = new PublicCache(join(dir, 'a.json'));
    const withO = key(TELEPORT, { keyId: 1, p11Label: HOST_UUID, p11Id: KEY_ID });
    const noId = key(S + D('label', b('y'.repeat(40))) + S, { keyId: 2, p11Label: b('y'.repeat(40)) });
    const plain = key('plain', { keyId: 3 });
    c.store(DEV, [withO, noId, plain]);
    const file = JSON.parse(readFileSync(join(dir, 'a.json'), 'utf8'));
    expect(file.devices[DEV].keys[0]).toMatchObject({ p11Label: Buffer.from(HOST_UUID).toString('hex'), p11Id: Buffer.from(KEY_ID).toString('hex') });
    expect(file.devices[DEV].keys[1]).not.toHaveProperty('p11Id');
    expect(file.devices[DEV].keys[2]).not.toHaveProperty('p11Label');
    const back = c.keys(DEV);
    expect(back).toEqual([withO, noId, plain]);
    expect(objectOf(back[0], false).attrs.get(CKA.LABEL)).toEqual(HOST_UUID);
  });

  it('an old file without the fields loads; malformed originals make the entry unreadable, as any malformed field', () => {
    const path = join(dir, 'old.json');
    const entry = {
      keyId: 4,
      alg: Alg.ECDSA_P256,
      label: TELEPORT,
      publicKey: '04'.repeat(65),
      capabilities: 1,
      sensitive: true,
      neverExtractable: true,
      local: true,
    };
    const bad = [{ p11Label: 'ABCD' }, { p11Label: 'abc' }, { p11Id: 7 }, { p11Id: 'zz' }, { p11Label: '00'.repeat(1025) }].map((x, i) => ({
      ...entry,
      keyId: 10 + i,
      ...x,
    }));
    writeFileSync(path, JSON.stringify({ version: 1, devices: { [DEV]: { updated: 'then', keys: [entry, ...bad] } } }));
    const keys = new PublicCache(path).keys(DEV);
    expect(keys.map((k) => k.keyId)).toEqual([4]);
    expect(keys[0]).not.toHaveProperty('p11Label');
    expect(objectOf(keys[0], true).attrs.get(CKA.LABEL)).toEqual(b(TELEPORT));
  });

  it('originals over 1024 bytes are not written', () => {
    const c = new PublicCache(join(dir, 'big.json'));
    c.store(DEV, [key(TELEPORT, { keyId: 1, p11Label: new Uint8Array(1025), p11Id: KEY_ID })]);
    expect(c.keys(DEV)[0]).toEqual(key(TELEPORT, { keyId: 1, p11Id: KEY_ID }));
  });

  it('a refresh keeps the originals for the same key id and public key, while the digests match the label', () => {
    const cached = [key(TELEPORT, { keyId: 1, p11Label: HOST_UUID, p11Id: KEY_ID })];
    // the same key, listed again
    expect(carryOriginals([key(TELEPORT, { keyId: 1 })], cached)).toEqual(cached);
    // a stale entry: the key id now holds another public key (deleted, and the id used again after a reset)
    const stale = carryOriginals([key(TELEPORT, { keyId: 1, publicKey: new Uint8Array(65).fill(5) })], cached);
    expect(stale[0]).not.toHaveProperty('p11Label');
    expect(objectOf(stale[0], true).attrs.get(CKA.LABEL)).toEqual(b(TELEPORT));
    // another key id
    expect(carryOriginals([key(TELEPORT, { keyId: 2 })], cached)[0]).not.toHaveProperty('p11Id');
    // the same key id and public key under another label: only originals whose digests match are kept
    const other = S + D('label', HOST_UUID) + S + D('id', Uint8Array.of(9));
    expect(carryOriginals([key(other, { keyId: 1 })], cached)).toEqual([key(other, { keyId: 1, p11Label: HOST_UUID })]);
    // a plain label takes none
    expect(carryOriginals([key('plain', { keyId: 1 })], cached)).toEqual([key('plain', { keyId: 1 })]);
  });
});
