// Golden frames: the documented example bytes (docs/protocol.md §5) are what the codec produces and what cbor-x reads.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { Decoder } from 'cbor-x';
import {
  Command,
  FrameReader,
  FrameType,
  COMMANDS,
  Role,
  Status,
  cborDecode,
  cborEncode,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  encodePacket,
  fromHex,
  toHex,
  type CborMap,
  type Schema,
} from '../../firmware/protocol/index.ts';

type Golden = {
  name: string;
  kind: 'request' | 'response' | 'error' | 'empty' | 'raw';
  frameType: number;
  seq: number;
  command?: number;
  status?: number;
  fields: object;
  cbor: string;
  body: string;
  packet: string;
  frame: string;
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
  return g.kind === 'request' ? COMMANDS[g.command as number].request : COMMANDS[g.command as number].response;
}

describe('golden frames', () => {
  it('covers every command request and every frame type', () => {
    const commands = new Set(golden.frames.filter((g) => g.kind === 'request').map((g) => g.command));
    for (const code of Object.keys(COMMANDS).map(Number)) expect(commands.has(code), `request example for command ${code}`).toBe(true);
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

describe('docs/protocol.md §5 shows the golden vectors exactly', () => {
  // §5 is copied from what tools/gen-golden.ts prints (it writes the JSON too): every line of every block is checked
  // here, not only the frame, so a hand edit of the document or a stale copy fails
  it('every block has the golden seq and its cbor, body (raw frames), packet and frame lines, nothing else', () => {
    for (const g of golden.frames) {
      const head = '**' + g.name + '** (seq ' + g.seq + ')\n```\n';
      const at = doc.indexOf(head);
      expect(at, g.name).toBeGreaterThanOrEqual(0);
      expect(doc.indexOf(head, at + 1), g.name + ' shown once').toBe(-1);
      const block = doc.slice(at + head.length, doc.indexOf('```', at + head.length));
      const want =
        'cbor   ' + (g.cbor || '(none)') + '\n' + (g.kind === 'raw' ? 'body   ' + g.body + '\n' : '') + 'packet ' + g.packet + '\nframe  ' + g.frame + '\n';
      expect(block, g.name).toBe(want);
    }
  });

  it('in the JSON, packet is header | body | CRC of the frame, and body is the command or status byte followed by cbor', () => {
    for (const g of golden.frames) {
      expect(toHex(encodePacket(g.frameType, g.seq, fromHex(g.body) as Uint8Array)), g.name).toBe(g.packet);
      if (g.kind === 'request' || g.kind === 'response' || g.kind === 'error') {
        const code = g.kind === 'request' ? (g.command as number) : (g.status as number);
        expect(g.body, g.name).toBe(code.toString(16).padStart(2, '0') + g.cbor);
      }
    }
  });
});

describe('golden error frames are what a device sends', () => {
  const byName = (name: string) => golden.frames.find((g) => g.name === name) as Golden;

  it('ERROR frame (UNSUPPORTED_VERSION) is the answer to a version-2 frame with seq 13, whatever its type and body', async () => {
    const { startTestDevice } = await import('../helpers/loopback.ts');
    const { cobsEncode } = await import('../../firmware/protocol/index.ts');
    const g = byName('ERROR frame (UNSUPPORTED_VERSION)');
    const t = startTestDevice();
    for (const [type, body] of [
      [FrameType.REQUEST, Uint8Array.of(0x01, 0xa0)],
      [FrameType.REQUEST, new Uint8Array(0)],
      [FrameType.CANCEL, new Uint8Array(0)],
      [FrameType.RESPONSE, Uint8Array.of(0x00, 0xa0)],
    ] as const) {
      t.link.feed(Uint8Array.from([...cobsEncode(encodePacket(type, 13, body, 2)), 0]));
      expect(toHex(t.link.take()), 'type ' + type).toBe(g.frame);
    }
  });

  it('the KEY_NOT_FOUND and PIN_INCORRECT bodies are the inner answers a device seals for KEY_PUBLIC of key 7 and a first wrong user PIN', async () => {
    const { startTestDevice } = await import('../helpers/loopback.ts');
    const t = startTestDevice();
    expect(toHex(t.call(Command.KEY_PUBLIC, { 1: 7 }).frame.body)).toBe(byName('Error response (KEY_NOT_FOUND)').body);
    const wrong = new Uint8Array(Buffer.from('not-the-user-pin'));
    t.call(Command.LOGOUT, {}); // the session that call() logged in as user drops its role
    expect(toHex(t.call(Command.LOGIN, { 1: Role.USER, 2: wrong }).frame.body)).toBe(byName('Error response (PIN_INCORRECT)').body);
  });
});

describe('the KEY_ATTEST example is a real statement', () => {
  it('its signature verifies with node:crypto over "tinyhsm/attest/v1" ‖ 00 ‖ statement, with the RFC 8032 §7.1 TEST 1 public key', async () => {
    const { createPublicKey, verify } = await import('node:crypto');
    const { ATTEST_CONTEXT } = await import('../../firmware/protocol/index.ts');
    const res = golden.frames.find((g) => g.name === 'KEY_ATTEST response') as Golden;
    const fields = revive(res.fields) as { statement: Uint8Array; signature: Uint8Array };
    const pub = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex').toString('base64url') },
      format: 'jwk',
    });
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
    const { DEFAULT_PIN_ITERATIONS } = await import('../../firmware/core/device.ts');
    const { startTestDevice } = await import('../helpers/devices.ts');
    const { seededRng } = await import('../helpers/loopback.ts');
    const ex = JSON.parse(readFileSync('test/vectors/session-example.json', 'utf8'));
    const flash = new NorFlash();
    const store = Store.open(flash);
    expect(
      store.commit([
        { key: DEVICE_ID_RECORD, value: fromHex(ex.deviceId) as Uint8Array },
        { key: IDENTITY_RECORD, value: encodeIdentity(fromHex(ex.identitySeed) as Uint8Array) },
      ]).ok,
    ).toBe(true);
    // the device's RNG gives RFC 7748 Bob's secret as the session ephemeral key (fixed inputs: tests only)
    let fixed: Uint8Array | undefined;
    const seeded = seededRng();
    const rng = {
      fill(buf: Uint8Array) {
        if (fixed && buf.length === 32) {
          buf.set(fixed);
          fixed = undefined;
        } else seeded.fill(buf);
      },
    };
    const { device, link } = startTestDevice({ flash, rng, pinIterations: DEFAULT_PIN_ITERATIONS });
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
