// Golden frames: the documented example bytes (docs/protocol.md §5) are what the codec produces and what cbor-x reads.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { Decoder } from 'cbor-x';
import {
  FrameReader, FrameType, MESSAGES, Status, cborDecode, cborEncode, decodeMessage, encodeFrame, encodeMessage, fromHex, toHex,
  type CborMap, type Schema,
} from '../../firmware/protocol/index.ts';

type Golden = {
  name: string; kind: 'request' | 'response' | 'error' | 'empty' | 'raw'; frameType: number; seq: number;
  command?: number; status?: number; fields: object; cbor: string; body: string; packet: string; frame: string;
};
const golden: { source: string; frames: Golden[] } = JSON.parse(readFileSync('test/vectors/golden-frames.json', 'utf8'));
const doc = readFileSync('docs/protocol.md', 'utf8');
// docs/protocol.md "Error details": {1: reason, 2: arg0, 3: arg1}; the device sends no text
const ERROR_SCHEMA: Schema = [
  { key: 1, name: 'reason', type: { t: 'uint' } },
  { key: 2, name: 'arg0', type: { t: 'uint' }, optional: true },
  { key: 3, name: 'arg1', type: { t: 'uint' }, optional: true },
];
const cborx = new Decoder({ mapsAsObjects: false, useRecords: false } as never);

/** JSON fields with {hex} placeholders back to Uint8Array. */
function revive(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === 'object') {
    const o = v as { [k: string]: unknown };
    if (typeof o.hex === 'string' && Object.keys(o).length === 1) return fromHex(o.hex);
    const out: { [k: string]: unknown } = {};
    for (const k in o) out[k] = revive(o[k]);
    return out;
  }
  return v;
}

function schemaOf(g: Golden): Schema | undefined {
  if (g.kind === 'empty' || g.kind === 'raw') return undefined;
  if (g.kind === 'error') return ERROR_SCHEMA;
  return g.kind === 'request' ? MESSAGES[g.command as number].request : MESSAGES[g.command as number].response;
}

describe('golden frames', () => {
  it('covers every command request and every frame type', () => {
    const commands = new Set(golden.frames.filter((g) => g.kind === 'request').map((g) => g.command));
    for (const code of Object.keys(MESSAGES).map(Number)) expect(commands.has(code), `request example for command ${code}`).toBe(true);
    const types = new Set(golden.frames.map((g) => g.frameType));
    for (const t of Object.values(FrameType)) expect(types.has(t), `frame type ${t}`).toBe(true);
  });

  for (const g of golden.frames) {
    it(g.name, () => {
      // the document shows exactly these bytes
      expect(doc).toContain(g.frame);
      // reading the frame off the wire gives the header and body
      const events = new FrameReader(2048).push(fromHex(g.frame) as Uint8Array);
      expect(events).toHaveLength(1);
      const ev = events[0];
      if (ev.kind !== 'frame') throw new Error('not a frame');
      expect(ev.frame).toMatchObject({ version: 1, type: g.frameType, seq: g.seq });
      expect(toHex(ev.frame.body)).toBe(g.body);
      const schema = schemaOf(g);
      if (!schema) {
        // an empty frame has no body; a raw one (KEEPALIVE) carries the documented byte, checked above
        if (g.kind === 'empty') expect(g.body).toBe('');
        return;
      }
      const code = g.kind === 'request' ? g.command : g.status;
      expect(ev.frame.body[0]).toBe(code);
      if (g.kind === 'response') expect(code).toBe(Status.OK);
      const cbor = ev.frame.body.subarray(1);
      // our decoder and the schema give the documented fields
      const decoded = cborDecode(cbor);
      if (!decoded.ok) throw new Error('reason ' + decoded.reason);
      const msg = decodeMessage(schema, decoded.value);
      if (!msg.ok) throw new Error('reason ' + msg.reason);
      expect(msg.value).toEqual(revive(g.fields));
      // the independent codec reads the same map
      expect(cborx.decode(cbor)).toEqual(decoded.value);
      // and encoding the fields gives the same bytes and the same frame
      const again = cborEncode(encodeMessage(schema, revive(g.fields) as object) as CborMap);
      expect(toHex(again)).toBe(g.cbor);
      expect(toHex(encodeFrame(g.frameType, g.seq, ev.frame.body))).toBe(g.frame);
    });
  }
});

describe('the KEY_ATTEST example is a real statement', () => {
  it('its signature verifies with node:crypto over "tinyhsm/attest/v1" ‖ 00 ‖ statement, with the RFC 8032 §7.1 TEST 1 public key', async () => {
    const { createPublicKey, verify } = await import('node:crypto');
    const { ATTEST_CONTEXT } = await import('../../firmware/protocol/index.ts');
    const res = golden.frames.find((g) => g.name === 'KEY_ATTEST response') as Golden;
    const fields = revive(res.fields) as { statement: Uint8Array; signature: Uint8Array };
    const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex').toString('base64url') }, format: 'jwk' });
    const signed = Buffer.concat([Buffer.from(ATTEST_CONTEXT + '\0', 'utf8'), fields.statement]);
    expect(verify(null, signed, pub, fields.signature)).toBe(true);
    signed[signed.length - 1] ^= 1;
    expect(verify(null, signed, pub, fields.signature)).toBe(false);
  });
});

describe('golden session frames come from a real device', () => {
  it('a device with the worked-example identity and device id answers the golden SESSION_OPEN and SESSION_MESSAGE frames byte for byte', async () => {
    const { NorFlash } = await import('../helpers/nor-flash.ts');
    const { Store } = await import('../../firmware/core/store/index.ts');
    const { DEVICE_ID_RECORD, IDENTITY_RECORD, encodeIdentity } = await import('../../firmware/core/records.ts');
    const { startDevice } = await import('../../firmware/core/device.ts');
    const { createLoopbackEnv } = await import('../helpers/loopback.ts');
    const ex = JSON.parse(readFileSync('test/vectors/session-example.json', 'utf8'));
    const flash = new NorFlash();
    const store = Store.open(flash);
    expect(
      store.commit([
        { key: DEVICE_ID_RECORD, value: fromHex(ex.deviceId) as Uint8Array },
        { key: IDENTITY_RECORD, value: encodeIdentity(fromHex(ex.identitySeed) as Uint8Array) },
      ]).ok,
    ).toBe(true);
    const link = createLoopbackEnv({ flash });
    // the device's RNG gives RFC 7748 Bob's secret as the session ephemeral key (fixed inputs: tests only)
    let fixed: Uint8Array | undefined;
    const seeded = link.env.rng;
    (link.env as { rng: unknown }).rng = {
      fill(buf: Uint8Array) {
        if (fixed && buf.length === 32) {
          buf.set(fixed);
          fixed = undefined;
        } else seeded.fill(buf);
      },
    };
    const device = startDevice(link.env);
    expect(toHex(device.identityPublicKey as Uint8Array)).toBe(ex.identityPublicKey);
    const frame = (name: string) => golden.frames.find((g) => g.name.startsWith(name)) as Golden;
    fixed = fromHex(ex.deviceEphemeralSecret) as Uint8Array;
    link.feed(fromHex(frame('SESSION_OPEN request').frame) as Uint8Array);
    expect(toHex(link.take())).toBe(frame('SESSION_OPEN response').frame);
    link.feed(fromHex(frame('SESSION_MESSAGE request').frame) as Uint8Array);
    expect(toHex(link.take())).toBe(frame('SESSION_MESSAGE response').frame);
    // and the inner SESSION_CLOSE body in the clear is refused as documented
    link.feed(fromHex(frame('SESSION_CLOSE').frame) as Uint8Array);
    expect(toHex(link.take())).toBe(frame('Error response (SESSION_REQUIRED)').frame);
  });
});
