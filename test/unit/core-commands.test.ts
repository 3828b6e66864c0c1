// Every command through real frames: results checked with node:crypto, and the negative side of each command.
import { msgOf } from '../helpers/message.ts';
import { auditNext, storeState } from '../helpers/audit.ts';
import { describe, it, expect } from 'vitest';
import { createECDH, createHash, createPrivateKey, createPublicKey, diffieHellman, verify as nodeVerify } from 'node:crypto';
import { Alg, Capability, Command, FrameType, Origin, Status } from '../../firmware/protocol/codes.ts';
import { encodeFrame } from '../../firmware/protocol/frame.ts';
import { decodeMessage } from '../../firmware/protocol/schema.ts';
import { COMMANDS } from '../../firmware/protocol/commands/index.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { field, findLeakedKeys, hex, inContext, seededRng, startTestDevice, unhex, type Reply, type TestDevice } from '../helpers/loopback.ts';

const N_P256 = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const N_K1 = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
const n32 = (n: bigint) => unhex(n.toString(16).padStart(64, '0'));

function ecKey(crv: 'P-256' | 'secp256k1', point: Uint8Array) {
  const b = Buffer.from(point);
  return createPublicKey({ key: { kty: 'EC', crv, x: b.subarray(1, 33).toString('base64url'), y: b.subarray(33).toString('base64url') }, format: 'jwk' });
}
function edKey(pub: Uint8Array) {
  return createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]), format: 'der', type: 'spki' });
}
const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

/** Every OK response also decodes against its response schema (the contract the host relies on). */
function okValue(r: Reply, command: number): Record<string, unknown> {
  expect(r.status, r.message).toBe(Status.OK);
  const d = decodeMessage<Record<string, unknown>>(COMMANDS[command].response, r.map);
  if (!d.ok) throw new Error('response does not match its schema: ' + msgOf(d));
  return d.value;
}

function generate(t: TestDevice, alg: number, label?: string): { keyId: number; publicKey: Uint8Array } {
  const v = okValue(t.call(Command.KEY_GENERATE, label === undefined ? { 1: alg } : { 1: alg, 2: label }), Command.KEY_GENERATE);
  return v as { keyId: number; publicKey: Uint8Array };
}

function expectError(r: Reply, status: number, re?: RegExp) {
  expect(r.frame.type).toBe(FrameType.RESPONSE);
  expect(r.statusName + ': ' + r.message).toMatch(new RegExp('^' + Object.keys(Status).find((k) => Status[k as keyof typeof Status] === status)));
  // {1: reason, 2: arg0, …}: consecutive integer keys, integer values, no text (docs/protocol.md §2.1)
  expect([...r.map.keys()]).toEqual([...r.map.keys()].map((_, i) => i + 1));
  for (const v of r.map.values()) expect(typeof v).toBe('number');
  expect(typeof r.message).toBe('string');
  if (re) expect(r.message).toMatch(re);
}

const listIds = (t: TestDevice) => (okValue(t.call(Command.KEY_LIST), Command.KEY_LIST).keys as { keyId: number }[]).map((k) => k.keyId);

describe('KEY_GENERATE, KEY_LIST, KEY_PUBLIC, KEY_DELETE', () => {
  const t = startTestDevice();

  it('generates each algorithm with ids 1, 2, 3, 4, the right public key shape, origin GENERATED and label default ""', () => {
    const a = generate(t, Alg.ED25519, 'signing');
    const b = generate(t, Alg.ECDSA_P256);
    const c = generate(t, Alg.ECDSA_SECP256K1);
    const d = generate(t, Alg.X25519, 'kex');
    expect([a.keyId, b.keyId, c.keyId, d.keyId]).toEqual([1, 2, 3, 4]);
    expect([a, b, c, d].map((k) => k.publicKey.length)).toEqual([32, 65, 65, 32]);
    expect(b.publicKey[0]).toBe(4);
    // the public keys parse as real keys in OpenSSL
    edKey(a.publicKey);
    ecKey('P-256', b.publicKey);
    ecKey('secp256k1', c.publicKey);
    const list = okValue(t.call(Command.KEY_LIST, {}), Command.KEY_LIST).keys as Record<string, unknown>[];
    expect(list.map((k) => [k.keyId, k.alg, k.label, k.origin])).toEqual([
      [1, Alg.ED25519, 'signing', Origin.GENERATED],
      [2, Alg.ECDSA_P256, '', Origin.GENERATED],
      [3, Alg.ECDSA_SECP256K1, '', Origin.GENERATED],
      [4, Alg.X25519, 'kex', Origin.GENERATED],
    ]);
    expect(hex(list[2].publicKey as Uint8Array)).toBe(hex(c.publicKey));
    const p = okValue(t.call(Command.KEY_PUBLIC, { 1: 2 }), Command.KEY_PUBLIC);
    expect(p.alg).toBe(Alg.ECDSA_P256);
    expect(hex(p.publicKey as Uint8Array)).toBe(hex(b.publicKey));
    expect(field(t.call(Command.INFO), 7)).toBe(4);
  });

  it('two generated keys differ', () => {
    const x = generate(t, Alg.ED25519);
    const y = generate(t, Alg.ED25519);
    expect(hex(x.publicKey)).not.toBe(hex(y.publicKey));
  });

  it('KEY_DELETE removes the key; its id is not reused; unknown ids → KEY_NOT_FOUND', () => {
    const before = listIds(t);
    okValue(t.call(Command.KEY_DELETE, { 1: 2 }), Command.KEY_DELETE);
    expect(listIds(t)).toEqual(before.filter((i) => i !== 2));
    expectError(t.call(Command.KEY_PUBLIC, { 1: 2 }), Status.KEY_NOT_FOUND, /2/);
    expectError(t.call(Command.KEY_DELETE, { 1: 2 }), Status.KEY_NOT_FOUND);
    expectError(t.call(Command.SIGN, { 1: 2, 2: new Uint8Array(1) }), Status.KEY_NOT_FOUND);
    expectError(t.call(Command.ECDH, { 1: 2, 2: new Uint8Array(32).fill(9) }), Status.KEY_NOT_FOUND);
    expect(generate(t, Alg.ED25519).keyId).toBe(Math.max(...before) + 1);
  });

  it('unknown algorithm → UNSUPPORTED_ALGORITHM naming the known ones', () => {
    expectError(t.call(Command.KEY_GENERATE, { 1: 9 }), Status.UNSUPPORTED_ALGORITHM, /unknown algorithm id 9.*ed25519/);
    expectError(t.call(Command.KEY_GENERATE, { 1: 0 }), Status.UNSUPPORTED_ALGORITHM);
    expectError(t.call(Command.KEY_IMPORT, { 1: 200, 3: new Uint8Array(32).fill(1) }), Status.UNSUPPORTED_ALGORITHM);
  });
});

describe('full store', () => {
  it('STORAGE_FULL says how many slots, and the store is unchanged', () => {
    const t = startTestDevice({ slots: 3 });
    for (let i = 0; i < 3; i++) generate(t, Alg.X25519, 'k' + i);
    const before = t.call(Command.KEY_LIST);
    expectError(t.call(Command.KEY_GENERATE, { 1: Alg.ED25519 }), Status.STORAGE_FULL, /3 key slots/);
    expectError(t.call(Command.KEY_IMPORT, { 1: Alg.ED25519, 3: new Uint8Array(32).fill(5) }), Status.STORAGE_FULL, /3/);
    expect(hex(t.call(Command.KEY_LIST).frame.body)).toBe(hex(before.frame.body));
    const info = t.call(Command.INFO);
    expect([field(info, 7), field(info, 8)]).toEqual([3, 0]);
    okValue(t.call(Command.KEY_DELETE, { 1: 1 }), Command.KEY_DELETE);
    expect(generate(t, Alg.ED25519).keyId).toBe(4);
  });
});

describe('full flash', () => {
  it('STORAGE_FULL when the flash has no room though slots are free: the message names the flash, nothing changes, a delete makes room', () => {
    // 3 small pages: room for the device's name, its role records (INIT) and a key or two
    const flash = new NorFlash({ pageSize: 1024, pageCount: 3 });
    const t = startTestDevice({ flash, slots: 16 });
    const made: number[] = [];
    let full: Reply | undefined;
    for (let i = 0; i < 16 && !full; i++) {
      const r = t.call(Command.KEY_GENERATE, { 1: Alg.ECDSA_P256, 2: 'label ' + i });
      if (r.status === Status.OK) made.push(field<number>(r, 1));
      else full = r;
    }
    expect(made.length).toBeGreaterThan(0);
    expectError(full!, Status.STORAGE_FULL, /flash store has no room.*delete a key/);
    const info = t.call(Command.INFO);
    expect(field<number>(info, 8)).toBeGreaterThan(0); // slots were free
    const before = t.call(Command.KEY_LIST);
    t.ready(Command.KEY_IMPORT); // the SO session's LOGIN writes its retry counter: before the snapshot
    const image = storeState(flash);
    const logged = auditNext(flash);
    expectError(t.call(Command.KEY_IMPORT, { 1: Alg.ECDSA_P256, 3: new Uint8Array(32).fill(5) }), Status.STORAGE_FULL, /flash/);
    expect(hex(t.call(Command.KEY_LIST).frame.body)).toBe(hex(before.frame.body));
    // nothing but the audit log changed: the refusal and the KEY_LIST are recorded (docs/audit.md §3)
    expect(storeState(flash)).toBe(image);
    expect(auditNext(flash)).toBe(logged + 2);
    okValue(t.call(Command.KEY_DELETE, { 1: made[0] }), Command.KEY_DELETE);
    expect(generate(t, Alg.ECDSA_P256).keyId).toBe(made[made.length - 1] + 1); // the refused tries used no id
  });
});

describe('KEY_IMPORT', () => {
  const t = startTestDevice();

  it('Ed25519: the device derives the same public key as OpenSSL and marks the key IMPORTED', () => {
    const seed = unhex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb');
    const k = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
    const v = okValue(t.call(Command.KEY_IMPORT, { 1: Alg.ED25519, 2: 'imp', 3: seed }), Command.KEY_IMPORT);
    expect(hex(v.publicKey as Uint8Array)).toBe(createPublicKey(k).export({ format: 'der', type: 'spki' }).subarray(12).toString('hex'));
    const list = okValue(t.call(Command.KEY_LIST), Command.KEY_LIST).keys as Record<string, unknown>[];
    const e = list.find((x) => x.keyId === v.keyId) as Record<string, unknown>;
    expect([e.origin, e.label]).toEqual([Origin.IMPORTED, 'imp']);
  });

  for (const [alg, curve, n] of [
    [Alg.ECDSA_P256, 'prime256v1', N_P256],
    [Alg.ECDSA_SECP256K1, 'secp256k1', N_K1],
  ] as const) {
    it('ECDSA alg ' + alg + ': public key equals OpenSSL; 0, n, n+1 and 2^256-1 → INVALID_KEY and nothing stored', () => {
      const e = createECDH(curve);
      e.generateKeys();
      const raw = e.getPrivateKey();
      const sk = new Uint8Array(Buffer.concat([Buffer.alloc(32 - raw.length), raw]));
      const v = okValue(t.call(Command.KEY_IMPORT, { 1: alg, 3: sk }), Command.KEY_IMPORT);
      expect(hex(v.publicKey as Uint8Array)).toBe(e.getPublicKey('hex'));
      const ids = listIds(t);
      for (const bad of [new Uint8Array(32), n32(n), n32(n + 1n), new Uint8Array(32).fill(0xff)]) {
        const r = t.call(Command.KEY_IMPORT, { 1: alg, 3: bad });
        expectError(r, Status.INVALID_KEY, /1\.\.n-1/);
        // the message never quotes the key
        expect(r.message).not.toContain(hex(bad));
      }
      expect(listIds(t)).toEqual(ids);
      // n-1 is the largest valid scalar
      okValue(t.call(Command.KEY_IMPORT, { 1: alg, 3: n32(n - 1n) }), Command.KEY_IMPORT);
    });
  }

  it('any 32 bytes are a valid Ed25519 seed or X25519 scalar (all-zero included)', () => {
    for (const alg of [Alg.ED25519, Alg.X25519]) {
      okValue(t.call(Command.KEY_IMPORT, { 1: alg, 3: new Uint8Array(32) }), Command.KEY_IMPORT);
      okValue(t.call(Command.KEY_IMPORT, { 1: alg, 3: new Uint8Array(32).fill(0xff) }), Command.KEY_IMPORT);
    }
  });

  it('a private key of the wrong length is refused by the schema', () => {
    expectError(t.call(Command.KEY_IMPORT, { 1: Alg.ED25519, 3: new Uint8Array(31) }), Status.INVALID_PARAMETER, /privateKey.*32/);
    expectError(t.call(Command.KEY_IMPORT, { 1: Alg.ED25519, 3: new Uint8Array(33) }), Status.INVALID_PARAMETER, /privateKey/);
  });
});

describe('SIGN', () => {
  const t = startTestDevice();
  const ed = generate(t, Alg.ED25519);
  const p256 = generate(t, Alg.ECDSA_P256);
  const k1 = generate(t, Alg.ECDSA_SECP256K1);
  const x = generate(t, Alg.X25519);

  it('Ed25519 over the whole message verifies with OpenSSL', () => {
    for (const msg of [new Uint8Array(0), new Uint8Array([1]), new Uint8Array(1984).fill(0x5a)]) {
      const sig = okValue(t.call(Command.SIGN, { 1: ed.keyId, 2: msg }), Command.SIGN).signature as Uint8Array;
      expect(sig.length).toBe(64);
      expect(nodeVerify(null, msg, edKey(ed.publicKey), sig)).toBe(true);
      const other = msg.length ? msg.map((b, i) => (i === 0 ? b ^ 1 : b)) : new Uint8Array([0]);
      expect(nodeVerify(null, other, edKey(ed.publicKey), sig)).toBe(false);
    }
  });

  for (const [name, key, crv, n] of [
    ['P-256', () => p256, 'P-256', N_P256],
    ['secp256k1', () => k1, 'secp256k1', N_K1],
  ] as const) {
    it(name + ': SHA-256(message) and a given digest both give low-S r‖s that OpenSSL verifies', () => {
      const pub = ecKey(crv, key().publicKey);
      for (let i = 0; i < 8; i++) {
        const msg = new Uint8Array(Buffer.from('message ' + i));
        const s1 = okValue(t.call(Command.SIGN, { 1: key().keyId, 2: msg }), Command.SIGN).signature as Uint8Array;
        const s2 = okValue(t.call(Command.SIGN, { 1: key().keyId, 3: sha256(msg) }), Command.SIGN).signature as Uint8Array;
        for (const s of [s1, s2]) {
          expect(s.length).toBe(64);
          expect(BigInt('0x' + hex(s.subarray(32))) <= n / 2n).toBe(true);
          expect(nodeVerify('sha256', msg, { key: pub, dsaEncoding: 'ieee-p1363' }, s)).toBe(true);
        }
      }
    });
  }

  it('exactly one of message and digest', () => {
    expectError(t.call(Command.SIGN, { 1: p256.keyId, 2: new Uint8Array(3), 3: new Uint8Array(32) }), Status.INVALID_PARAMETER, /not both/);
    expectError(t.call(Command.SIGN, { 1: p256.keyId }), Status.INVALID_PARAMETER, /neither/);
    expectError(t.call(Command.SIGN, { 1: p256.keyId, 3: new Uint8Array(31) }), Status.INVALID_PARAMETER, /digest.*32/);
  });

  it('Ed25519 refuses a digest; x25519 keys cannot sign', () => {
    expectError(t.call(Command.SIGN, { 1: ed.keyId, 3: new Uint8Array(32) }), Status.OPERATION_NOT_PERMITTED, /whole message/);
    expectError(t.call(Command.SIGN, { 1: x.keyId, 2: new Uint8Array(3) }), Status.OPERATION_NOT_PERMITTED, /x25519.*not sign/);
  });

  it('a message over the limit is refused', () => {
    expectError(t.call(Command.SIGN, { 1: ed.keyId, 2: new Uint8Array(1985) }), Status.INVALID_PARAMETER, /message/);
  });
});

describe('ECDH', () => {
  const t = startTestDevice();
  const x = generate(t, Alg.X25519);
  // a P-256 key signs by default; ECDH needs the derive capability asked for at creation (docs/security.md §6)
  const p = okValue(t.call(Command.KEY_GENERATE, { 1: Alg.ECDSA_P256, 3: Capability.SIGN | Capability.DERIVE }), Command.KEY_GENERATE) as {
    keyId: number;
    publicKey: Uint8Array;
  };
  const ed = generate(t, Alg.ED25519);
  const k1 = generate(t, Alg.ECDSA_SECP256K1);

  it('x25519 agrees with OpenSSL', () => {
    const peer = createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), Buffer.alloc(32, 7)]),
      format: 'der',
      type: 'pkcs8',
    });
    const peerPub = createPublicKey(peer).export({ format: 'der', type: 'spki' }).subarray(12);
    const s = okValue(t.call(Command.ECDH, { 1: x.keyId, 2: new Uint8Array(peerPub) }), Command.ECDH).sharedSecret as Uint8Array;
    const mine = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), x.publicKey]), format: 'der', type: 'spki' });
    expect(hex(s)).toBe(diffieHellman({ privateKey: peer, publicKey: mine }).toString('hex'));
  });

  it('P-256 with an uncompressed or compressed peer point agrees with OpenSSL', () => {
    const peer = createECDH('prime256v1');
    peer.generateKeys();
    const want = peer.computeSecret(Buffer.from(p.publicKey)).toString('hex');
    for (const pt of [peer.getPublicKey(), peer.getPublicKey(null, 'compressed')]) {
      const s = okValue(t.call(Command.ECDH, { 1: p.keyId, 2: new Uint8Array(pt) }), Command.ECDH).sharedSecret as Uint8Array;
      expect(hex(s)).toBe(want);
    }
  });

  it('bad peer keys → INVALID_KEY; the wrong key type → OPERATION_NOT_PERMITTED', () => {
    expectError(t.call(Command.ECDH, { 1: x.keyId, 2: new Uint8Array(32) }), Status.INVALID_KEY, /low-order/);
    expectError(t.call(Command.ECDH, { 1: x.keyId, 2: new Uint8Array(33).fill(9) }), Status.INVALID_KEY, /32 bytes/);
    const off = new Uint8Array(p.publicKey);
    off[64] ^= 1;
    expectError(t.call(Command.ECDH, { 1: p.keyId, 2: off }), Status.INVALID_KEY, /not a valid P-256 point/);
    expectError(t.call(Command.ECDH, { 1: p.keyId, 2: new Uint8Array(32).fill(1) }), Status.INVALID_KEY, /SEC1/);
    expectError(t.call(Command.ECDH, { 1: ed.keyId, 2: new Uint8Array(32).fill(9) }), Status.OPERATION_NOT_PERMITTED, /ed25519/);
    expectError(t.call(Command.ECDH, { 1: k1.keyId, 2: k1.publicKey }), Status.OPERATION_NOT_PERMITTED, /secp256k1/);
  });
});

describe('RANDOM and ECHO', () => {
  it('RANDOM returns bytes from env.rng (the seeded stream after the 16-byte device id, the 32-byte identity seed and the 32-byte session ephemeral secret)', () => {
    const t = startTestDevice({ seed: 'random-test' });
    const a = okValue(t.call(Command.RANDOM, { 1: 48 }), Command.RANDOM).bytes as Uint8Array;
    const ref = seededRng('random-test');
    ref.fill(new Uint8Array(16 + 32));
    ref.fill(new Uint8Array(32)); // SESSION_OPEN's X25519 secret (docs/session.md §2), drawn before RANDOM runs
    const want = new Uint8Array(48);
    ref.fill(want);
    expect(hex(a)).toBe(hex(want));
    expect((okValue(t.call(Command.RANDOM, { 1: 1024 }), Command.RANDOM).bytes as Uint8Array).length).toBe(1024);
    expectError(t.call(Command.RANDOM, { 1: 0 }), Status.INVALID_PARAMETER, /length/);
    expectError(t.call(Command.RANDOM, { 1: 1025 }), Status.INVALID_PARAMETER, /length/);
    expectError(t.call(Command.RANDOM, {}), Status.MISSING_PARAMETER, /length/);
  });

  it('ECHO returns its data', () => {
    const t = startTestDevice();
    expect(hex(okValue(t.call(Command.ECHO, { 1: unhex('00ff00') }), Command.ECHO).data as Uint8Array)).toBe('00ff00');
    expect((okValue(t.call(Command.ECHO, { 1: new Uint8Array(0) }), Command.ECHO).data as Uint8Array).length).toBe(0);
  });
});

describe('request validation (every command)', () => {
  const t = startTestDevice();
  const k = generate(t, Alg.ED25519);

  it('unknown command → INVALID_COMMAND', () => {
    expectError(t.call(0x00, {}), Status.INVALID_COMMAND, /0x00/);
    expectError(t.call(0x7f, {}), Status.INVALID_COMMAND, /0x7f/);
    expectError(t.call(0xee), Status.INVALID_COMMAND, /0xee/);
  });

  it.each([
    [Command.ECHO, {}, /data/],
    [Command.RANDOM, {}, /length/],
    [Command.KEY_GENERATE, { 2: 'x' }, /alg/],
    [Command.KEY_IMPORT, { 1: Alg.ED25519 }, /privateKey/],
    [Command.KEY_PUBLIC, {}, /keyId/],
    [Command.KEY_DELETE, {}, /keyId/],
    [Command.SIGN, { 2: new Uint8Array(1) }, /keyId/],
    [Command.ECDH, { 1: 1 }, /publicKey/],
  ])('command %i with a missing parameter → MISSING_PARAMETER', (cmd, params, re) => {
    expectError(t.call(cmd, params), Status.MISSING_PARAMETER, re);
  });

  it.each([
    [Command.INFO, { 1: 1 }],
    [Command.KEY_LIST, { 9: 'x' }],
    [Command.ECHO, { 1: new Uint8Array(1), 2: 0 }],
    [Command.RANDOM, { 1: 4, 3: 1 }],
    [Command.KEY_GENERATE, { 1: Alg.ED25519, 7: 1 }],
    [Command.KEY_IMPORT, { 1: Alg.ED25519, 3: new Uint8Array(32), 8: true }], // keys 4–6 are the policy, 7 protected (docs/protocol.md §4)
    [Command.KEY_PUBLIC, { 1: 1, 2: 1 }],
    [Command.KEY_DELETE, { 1: 1, 100: 1 }],
    [Command.SIGN, { 1: 1, 2: new Uint8Array(1), 6: 1 }], // 4 prehashed, 5 context
    [Command.ECDH, { 1: 1, 2: new Uint8Array(32), 3: 1 }],
  ])('command %i with an extra parameter → UNKNOWN_PARAMETER', (cmd, params) => {
    expectError(t.call(cmd, params), Status.UNKNOWN_PARAMETER, /unknown parameter key/);
  });

  it.each([
    [Command.ECHO, { 1: 'text' }, /data/],
    [Command.RANDOM, { 1: -1 }, /length/],
    [Command.RANDOM, { 1: new Uint8Array(1) }, /length/],
    [Command.KEY_GENERATE, { 1: 'ed25519' }, /alg/],
    [Command.KEY_GENERATE, { 1: Alg.ED25519, 2: new Uint8Array(2) }, /label/],
    [Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'x'.repeat(33) }, /label.*32/],
    [Command.KEY_IMPORT, { 1: Alg.ED25519, 3: 'secret' }, /privateKey/],
    [Command.KEY_PUBLIC, { 1: 0 }, /keyId/],
    [Command.KEY_PUBLIC, { 1: 0x10000 }, /keyId/],
    [Command.KEY_DELETE, { 1: true }, /keyId/],
    [Command.SIGN, { 1: 1, 2: [1, 2] }, /message/],
    [Command.ECDH, { 1: 1, 2: new Uint8Array(66) }, /publicKey/],
  ])('command %i with a wrong-typed or out-of-range parameter → INVALID_PARAMETER', (cmd, params, re) => {
    expectError(t.call(cmd, params), Status.INVALID_PARAMETER, re);
  });

  const rawBody = (cmd: number, cbor: string) => {
    // gated commands travel in a session (docs/protocol.md §6): the malformed CBOR is the inner body
    const body = new Uint8Array([cmd, ...unhex(cbor)]);
    const f = cmd === Command.INFO || cmd === Command.ECHO ? encodeFrame(FrameType.REQUEST, t.nextSeq(), body) : t.sealBody(body);
    const rs = t.raw(f);
    expect(rs.length).toBe(1);
    return inContext(cmd, cmd === Command.INFO || cmd === Command.ECHO ? rs[0] : t.openReply(rs[0]));
  };

  it.each([
    ['unsorted keys', Command.SIGN, 'a2' + '02' + '41' + '00' + '01' + '01', /order/],
    ['duplicate keys', Command.KEY_PUBLIC, 'a2' + '0101' + '0101', /duplicate/],
    ['a non-shortest integer', Command.KEY_PUBLIC, 'a1' + '01' + '1801', /shortest/],
    ['a non-shortest map length', Command.KEY_PUBLIC, 'b801' + '01' + '01', /shortest/],
    ['an indefinite-length map', Command.KEY_PUBLIC, 'bf' + '0101' + 'ff', /indefinite/],
    ['a float', Command.RANDOM, 'a1' + '01' + 'f94400', /float/],
    ['a tag', Command.ECHO, 'a1' + '01' + 'c2' + '41' + '01', /tag/],
    ['trailing bytes', Command.INFO, 'a0' + '00', /trailing/],
    ['a truncated item', Command.ECHO, 'a1' + '01' + '45' + '0102', /past the end|truncated/],
    ['text map keys', Command.ECHO, 'a1' + '6164' + '41' + '00', /integers/],
    ['nesting deeper than 4', Command.ECHO, 'a1' + '01' + '81' + '81' + '81' + '81' + '01', /deeper/],
    ['a non-map top level', Command.INFO, '01', /map/],
  ])('%s → INVALID_CBOR', (_name, cmd, cbor, re) => {
    expectError(rawBody(cmd, cbor), Status.INVALID_CBOR, re);
  });

  it('depth 4 itself is fine for the codec (and then the schema judges it)', () => {
    // {1: [[[1]]]}: map, array, array, array = 4 levels → CBOR accepted, schema says data is not bytes
    expectError(rawBody(Command.ECHO, 'a1' + '01' + '81' + '81' + '81' + '01'), Status.INVALID_PARAMETER, /data/);
  });

  it('nothing above changed the store', () => {
    expect(listIds(t)).toEqual([k.keyId]);
  });
});

describe('no private key leaves the device', () => {
  // runs last in this file: every device above wrote through the loopback, which recorded every byte
  it('no imported private key appears in any byte the devices wrote, raw or decoded', () => {
    expect(findLeakedKeys()).toEqual([]);
  });

  it('the scan itself finds a key that does appear', () => {
    const t = startTestDevice();
    const secret = new Uint8Array(32).map((_, i) => i * 7 + 3);
    t.call(Command.KEY_IMPORT, { 1: Alg.X25519, 3: secret });
    expect(findLeakedKeys()).toEqual([]);
    // ECHO sends it back: now the scanner must see it (proves the scan can fail)
    t.call(Command.ECHO, { 1: secret });
    expect(findLeakedKeys()).toEqual([hex(secret)]);
  });
});
