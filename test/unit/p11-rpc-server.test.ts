// The PKCS#11 server over its socket with a TypeScript p11-kit client (docs/pkcs11.md §3–§6): version negotiation, connection-ending and recoverable malformed messages, the PKCS#11 rules (sessions, login, operations, buffers, attributes), CKM_EDDSA (which p11-kit-client.so cannot carry) verified by node:crypto, and login state kept per connection.
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519ph } from '@noble/curves/ed25519.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Alg } from '../../firmware/protocol/index.ts';
import { InProcessTransport } from '../../host/transports/inprocess.ts';
import { CKA, CKF, CKK, CKM, CKO, CKR, callId } from '../../host/pkcs11/constants.ts';
import { Pkcs11Server } from '../../host/pkcs11/server.ts';
import { encodeRequest, type InArg, type ResponseArg } from '../../host/pkcs11/rpc.ts';
import { publicKeyToPem } from '../../host/pubkey-format.ts';
import { P11RpcClient, initArgs } from '../helpers/p11-rpc-client.ts';
import { SIM_USER_PIN, startInProcess, type InProcessHandle } from '../helpers/sim.ts';

let dev: InProcessHandle;
let server: Pkcs11Server;
let dir: string;
let socket: string;
const logs: string[] = [];
const open: P11RpcClient[] = [];

beforeAll(async () => {
  dev = await startInProcess({}, {}, 'init');
  dir = mkdtempSync(join(tmpdir(), 'tinyhsm-p11srv-'));
  socket = join(dir, 'p11.sock');
  server = new Pkcs11Server({
    openLink: async () => new InProcessTransport(dev.sim, false),
    clientOptions: { knownDevices: null },
    cachePath: join(dir, 'cache.json'),
    log: (l) => logs.push(l),
  });
  await server.listen(socket);
}, 60_000);

afterAll(async () => {
  for (const c of open) c.close();
  await server?.close();
  await dev?.close();
  dev?.sim.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function connect(version = 0): Promise<P11RpcClient> {
  const { client } = await P11RpcClient.connect(socket, version);
  open.push(client);
  return client;
}

const u = (v: number | bigint): InArg => ({ t: 'u', v });
const ay = (v: Uint8Array | string | null): InArg => ({ t: 'ay', v: typeof v === 'string' ? new Uint8Array(Buffer.from(v)) : v });
const ulong = (a: ResponseArg) => (a as { v: bigint }).v;

/** C_Initialize, C_OpenSession (RW), and optionally C_Login as the user: the session handle. */
async function ready(c: P11RpcClient, login: boolean): Promise<number> {
  expect((await c.call('C_Initialize', initArgs())).rv).toBe(CKR.OK);
  const s = await c.call('C_OpenSession', [u(0), u(CKF.SERIAL_SESSION | CKF.RW_SESSION)]);
  expect(s.rv).toBe(CKR.OK);
  const h = Number(ulong(s.args[0]));
  if (login) expect((await c.call('C_Login', [u(h), u(1), ay(SIM_USER_PIN)])).rv).toBe(CKR.OK);
  return h;
}

async function find(c: P11RpcClient, s: number, template: { type: number; value: boolean | bigint | Uint8Array }[]): Promise<number[]> {
  expect((await c.call('C_FindObjectsInit', [u(s), { t: 'aA', v: template }])).rv).toBe(CKR.OK);
  const r = await c.call('C_FindObjects', [u(s), { t: 'fu', v: 100 }]);
  expect((await c.call('C_FindObjectsFinal', [u(s)])).rv).toBe(CKR.OK);
  return ((r.args[0] as { v: bigint[] }).v || []).map(Number);
}

async function keyPair(c: P11RpcClient, s: number, mech: number, pub: InArg, priv: InArg): Promise<{ pub: number; priv: number; rv: number }> {
  const r = await c.call('C_GenerateKeyPair', [u(s), { t: 'M', type: mech, param: null }, pub, priv]);
  return r.rv === CKR.OK ? { pub: Number(ulong(r.args[0])), priv: Number(ulong(r.args[1])), rv: r.rv } : { pub: 0, priv: 0, rv: r.rv };
}

async function attr(c: P11RpcClient, s: number, h: number, type: number, length = 256) {
  const r = await c.call('C_GetAttributeValue', [u(s), u(h), { t: 'fA', v: [{ type, length }] }]);
  const arr = r.args[0] as { v: { value: unknown }[]; lengths: number[] };
  return { rv: r.rv === CKR.OK ? Number(ulong(r.args[1])) : r.rv, value: arr?.v[0]?.value, length: arr?.lengths[0] };
}

async function sign(c: P11RpcClient, s: number, key: number, mech: number, data: Uint8Array, param: Uint8Array | null = null): Promise<Uint8Array> {
  expect((await c.call('C_SignInit', [u(s), { t: 'M', type: mech, param }, u(key)])).rv).toBe(CKR.OK);
  const r = await c.call('C_Sign', [u(s), ay(data), { t: 'fy', v: 64 }]);
  expect(r.rv).toBe(CKR.OK);
  return (r.args[0] as { v: Uint8Array }).v;
}

describe('connection level', () => {
  it('answers version 0 to an offer of 0, and to an offer of 1 (a newer p11-kit) too, then serves', async () => {
    expect((await P11RpcClient.connect(socket, 0).then((x) => (open.push(x.client), x))).version).toBe(0);
    const { client, version } = await P11RpcClient.connect(socket, 1);
    open.push(client);
    expect(version).toBe(0);
    expect((await client.call('C_Initialize', initArgs())).rv).toBe(CKR.OK);
    expect((await client.call('C_GetInfo')).rv).toBe(CKR.OK);
    expect(logs.some((l) => l.includes('the client offered protocol version 1; answering 0'))).toBe(true);
  });

  it("a call id past version 0 or a wrong signature ends the connection, as p11-kit's server does", async () => {
    const c = await connect();
    const past = new Uint8Array(encodeRequest(callId('C_Finalize'), []));
    past[3] = 66;
    expect(await c.raw(past)).toBeUndefined();
    expect(c.closed).toBe(true);
    const d = await connect();
    const wrongSig = encodeRequest(callId('C_GetInfo'), []).slice(0, 8);
    new DataView(wrongSig.buffer).setUint32(4, 1);
    expect(await d.raw(Uint8Array.from([...wrongSig.subarray(0, 8), 0x75]))).toBeUndefined();
    expect(logs.some((l) => /unusable message: call id 66 is not a request of protocol version 0/.test(l))).toBe(true);
  });

  it('a malformed argument is CKR_DEVICE_ERROR and the connection goes on; so does an unsupported function', async () => {
    const c = await connect();
    await ready(c, false);
    const login = encodeRequest(callId('C_Login'), [u(1), u(1), ay(SIM_USER_PIN)]);
    const cut = await c.call('C_GetInfo');
    expect(cut.rv).toBe(CKR.OK);
    const bad = await c.raw(login.subarray(0, login.length - 2));
    expect(bad).toBeDefined();
    expect(Buffer.from(bad!).toString('hex')).toBe('00000000000000017500000000' + '00000030');
    expect((await c.call('C_GenerateRandom', [u(1), { t: 'fy', v: 16 }])).rv).toBe(CKR.FUNCTION_NOT_SUPPORTED);
    expect((await c.call('C_GetInfo')).rv).toBe(CKR.OK);
  });

  it('before C_Initialize every call is CKR_CRYPTOKI_NOT_INITIALIZED; a foreign handshake is refused', async () => {
    const c = await connect();
    expect((await c.call('C_GetInfo')).rv).toBe(CKR.CRYPTOKI_NOT_INITIALIZED);
    expect((await c.call('C_Initialize', [ay('hello'), { t: 'y', v: 0 }, ay(null)])).rv).toBe(CKR.GENERAL_ERROR);
    expect((await c.call('C_Initialize', initArgs())).rv).toBe(CKR.OK);
    expect((await c.call('C_Initialize', initArgs())).rv).toBe(CKR.CRYPTOKI_ALREADY_INITIALIZED);
  });
});

describe('slot, token, sessions', () => {
  it('slot list with a length-only call and a buffer; token info; mechanisms; session rules', async () => {
    const c = await connect();
    expect((await c.call('C_Initialize', initArgs())).rv).toBe(CKR.OK);
    const count = await c.call('C_GetSlotList', [
      { t: 'y', v: 1 },
      { t: 'fu', v: 0 },
    ]);
    expect(count.args[0]).toEqual({ t: 'au', v: null, length: 1 });
    expect(
      (
        await c.call('C_GetSlotList', [
          { t: 'y', v: 1 },
          { t: 'fu', v: 4 },
        ])
      ).args[0],
    ).toEqual({ t: 'au', v: [0n], length: 1 });
    expect((await c.call('C_GetSlotInfo', [u(1)])).rv).toBe(CKR.SLOT_ID_INVALID);
    const t = await c.call('C_GetTokenInfo', [u(0)]);
    expect(Buffer.from((t.args[0] as { v: Uint8Array }).v).toString()).toBe('test'.padEnd(32));
    expect(Number(ulong(t.args[7]))).toBe(4); // ulMaxRwSessionCount: the device's sessions
    const mechs = (await c.call('C_GetMechanismList', [u(0), { t: 'fu', v: 16 }])).args[0] as { v: bigint[] };
    expect(mechs.v.map(Number)).toEqual([CKM.EC_KEY_PAIR_GEN, CKM.ECDSA, CKM.ECDSA_SHA256, CKM.EC_EDWARDS_KEY_PAIR_GEN, CKM.EDDSA]);
    expect((await c.call('C_GetMechanismInfo', [u(0), u(0x1234)])).rv).toBe(CKR.MECHANISM_INVALID);
    expect((await c.call('C_OpenSession', [u(0), u(CKF.RW_SESSION)])).rv).toBe(CKR.SESSION_PARALLEL_NOT_SUPPORTED);
    for (let i = 0; i < 4; i++) expect((await c.call('C_OpenSession', [u(0), u(CKF.SERIAL_SESSION | CKF.RW_SESSION)])).rv).toBe(CKR.OK);
    expect((await c.call('C_OpenSession', [u(0), u(CKF.SERIAL_SESSION | CKF.RW_SESSION)])).rv).toBe(CKR.SESSION_COUNT);
    expect((await c.call('C_OpenSession', [u(0), u(CKF.SERIAL_SESSION)])).rv).toBe(CKR.OK);
    expect((await c.call('C_CloseSession', [u(999)])).rv).toBe(CKR.SESSION_HANDLE_INVALID);
    expect((await c.call('C_CloseAllSessions', [u(0)])).rv).toBe(CKR.OK);
    expect((await c.call('C_GetSessionInfo', [u(1)])).rv).toBe(CKR.SESSION_HANDLE_INVALID);
  });
});

describe('login, keys, signatures', () => {
  let c: P11RpcClient;
  let s: number;
  let ed: { pub: number; priv: number; rv: number };
  let p256: { pub: number; priv: number; rv: number };

  beforeAll(async () => {
    c = await connect();
    s = await ready(c, false);
  });

  it('login rules: SO is not offered, a wrong PIN is CKR_PIN_INCORRECT, twice is CKR_USER_ALREADY_LOGGED_IN; signing needs it', async () => {
    expect((await c.call('C_SignInit', [u(s), { t: 'M', type: CKM.ECDSA, param: null }, u(3)])).rv).toBe(CKR.USER_NOT_LOGGED_IN);
    expect((await c.call('C_Login', [u(s), u(0), ay('so-pin-123456')])).rv).toBe(CKR.USER_TYPE_INVALID);
    expect((await c.call('C_Login', [u(s), u(1), ay('wrong-pin-9876')])).rv).toBe(CKR.PIN_INCORRECT);
    expect((await c.call('C_Logout', [u(s)])).rv).toBe(CKR.USER_NOT_LOGGED_IN);
    expect((await c.call('C_Login', [u(s), u(1), ay(SIM_USER_PIN)])).rv).toBe(CKR.OK);
    expect((await c.call('C_Login', [u(s), u(1), ay(SIM_USER_PIN)])).rv).toBe(CKR.USER_ALREADY_LOGGED_IN);
    // no log line carries the PIN
    expect(logs.join('\n')).not.toContain(SIM_USER_PIN);
    expect(logs.join('\n')).not.toContain('wrong-pin-9876');
  });

  it('C_GenerateKeyPair makes Ed25519 and P-256 pairs whose objects share CKA_ID and CKA_LABEL', async () => {
    const id = { type: CKA.ID, value: Uint8Array.of(0xed, 0x01) };
    ed = await keyPair(
      c,
      s,
      CKM.EC_EDWARDS_KEY_PAIR_GEN,
      { t: 'aA', v: [{ type: CKA.TOKEN, value: true }, id] },
      {
        t: 'aA',
        v: [
          { type: CKA.LABEL, value: Buffer.from('ed') },
          { type: CKA.SIGN, value: true },
        ],
      },
    );
    expect(ed.priv).toBe(ed.pub + 1);
    const params = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
    p256 = await keyPair(
      c,
      s,
      CKM.EC_KEY_PAIR_GEN,
      { t: 'aA', v: [{ type: CKA.EC_PARAMS, value: params }] },
      { t: 'aA', v: [{ type: CKA.LABEL, value: Buffer.from('p') }] },
    );
    expect(p256.rv).toBe(CKR.OK);
    expect(await find(c, s, [id])).toEqual([ed.pub, ed.priv]);
    expect(
      await find(c, s, [
        { type: CKA.CLASS, value: BigInt(CKO.PRIVATE_KEY) },
        { type: CKA.KEY_TYPE, value: BigInt(CKK.EC_EDWARDS) },
      ]),
    ).toEqual([ed.priv]);
    expect((await attr(c, s, ed.pub, CKA.LABEL)).value).toEqual(new Uint8Array(Buffer.from('ed')));
    // a read-only session may not make keys
    const ro = Number(ulong((await c.call('C_OpenSession', [u(0), u(CKF.SERIAL_SESSION)])).args[0]));
    expect((await keyPair(c, ro, CKM.EC_EDWARDS_KEY_PAIR_GEN, { t: 'aA', v: [] }, { t: 'aA', v: [] })).rv).toBe(CKR.SESSION_READ_ONLY);
    // a template the device cannot honour changes nothing and says why
    const before = (await find(c, s, [])).length;
    expect(
      (
        await keyPair(
          c,
          s,
          CKM.EC_EDWARDS_KEY_PAIR_GEN,
          { t: 'aA', v: [] },
          {
            t: 'aA',
            v: [
              { type: CKA.LABEL, value: Buffer.from('l'.repeat(30) + '\u001f') },
              { type: CKA.ID, value: new Uint8Array(8) },
            ],
          },
        )
      ).rv,
    ).toBe(CKR.ATTRIBUTE_VALUE_INVALID);
    expect(logs.some((l) => l.includes('CKA_LABEL holds U+001F'))).toBe(true);
    expect((await find(c, s, [])).length).toBe(before);
  });

  it('attributes: private values are sensitive, unknown types unavailable, length-only and too-small buffers', async () => {
    expect(await attr(c, s, ed.priv, CKA.VALUE)).toMatchObject({ rv: CKR.ATTRIBUTE_SENSITIVE, value: null });
    expect(await attr(c, s, ed.priv, 0x120)).toMatchObject({ rv: CKR.ATTRIBUTE_TYPE_INVALID, value: null });
    expect(await attr(c, s, ed.pub, CKA.EC_POINT, 0)).toMatchObject({ rv: CKR.OK, length: 34 });
    expect(await attr(c, s, ed.pub, CKA.EC_POINT, 10)).toMatchObject({ rv: CKR.BUFFER_TOO_SMALL, value: null });
    expect(await attr(c, s, ed.priv, CKA.ALWAYS_AUTHENTICATE)).toMatchObject({ rv: CKR.OK, value: false });
    expect(await attr(c, s, 999, CKA.CLASS)).toMatchObject({ rv: CKR.OBJECT_HANDLE_INVALID });
  });

  it('CKM_EDDSA: length-only and too-small calls keep the operation; the signature verifies with node:crypto', async () => {
    const point = (await attr(c, s, ed.pub, CKA.EC_POINT)).value as Uint8Array;
    const key = createPublicKey(publicKeyToPem(Alg.ED25519, point.subarray(2)));
    const msg = new Uint8Array(Buffer.from('a message PKCS#11 signs with Ed25519'));
    expect((await c.call('C_SignInit', [u(s), { t: 'M', type: CKM.EDDSA, param: null }, u(ed.priv)])).rv).toBe(CKR.OK);
    expect((await c.call('C_SignInit', [u(s), { t: 'M', type: CKM.EDDSA, param: null }, u(ed.priv)])).rv).toBe(CKR.OPERATION_ACTIVE);
    expect((await c.call('C_Sign', [u(s), ay(msg), { t: 'fy', v: 0 }])).args[0]).toEqual({ t: 'ay', v: null, length: 64 });
    expect((await c.call('C_Sign', [u(s), ay(msg), { t: 'fy', v: 10 }])).args[0]).toEqual({ t: 'ay', v: null, length: 64 });
    const r = await c.call('C_Sign', [u(s), ay(msg), { t: 'fy', v: 64 }]);
    const sig = (r.args[0] as { v: Uint8Array }).v;
    expect(nodeVerify(null, msg, key, sig)).toBe(true);
    expect(nodeVerify(null, Buffer.from('another message'), key, sig)).toBe(false);
    expect((await c.call('C_Sign', [u(s), ay(msg), { t: 'fy', v: 64 }])).rv).toBe(CKR.OPERATION_NOT_INITIALIZED);
    // a long message through C_SignUpdate, streamed to the device
    const long = new Uint8Array(5000).map((_, i) => i & 0xff);
    expect((await c.call('C_SignInit', [u(s), { t: 'M', type: CKM.EDDSA, param: null }, u(ed.priv)])).rv).toBe(CKR.OK);
    for (let i = 0; i < long.length; i += 1000) expect((await c.call('C_SignUpdate', [u(s), ay(long.subarray(i, i + 1000))])).rv).toBe(CKR.OK);
    const fin = await c.call('C_SignFinal', [u(s), { t: 'fy', v: 64 }]);
    expect(nodeVerify(null, long, key, (fin.args[0] as { v: Uint8Array }).v)).toBe(true);
  });

  it('CK_EDDSA_PARAMS with phFlag and a context sign Ed25519ph; a key of the other type is CKR_KEY_TYPE_INCONSISTENT', async () => {
    const point = ((await attr(c, s, ed.pub, CKA.EC_POINT)).value as Uint8Array).subarray(2);
    const msg = new Uint8Array(Buffer.from('prehashed'));
    const ctx = Buffer.from('ctx');
    const param = Uint8Array.from([1, 0, 0, 0, ctx.length, ...ctx]);
    const sig = await sign(c, s, ed.priv, CKM.EDDSA, msg, param);
    expect(ed25519ph.verify(sig, msg, point, { context: ctx })).toBe(true);
    expect(nodeVerify(null, msg, createPublicKey(publicKeyToPem(Alg.ED25519, point)), sig)).toBe(false);
    expect((await c.call('C_SignInit', [u(s), { t: 'M', type: CKM.EDDSA, param: Uint8Array.of(0, 0, 0, 0, 1, 7) }, u(ed.priv)])).rv).toBe(
      CKR.MECHANISM_PARAM_INVALID,
    );
    expect((await c.call('C_SignInit', [u(s), { t: 'M', type: CKM.ECDSA, param: null }, u(ed.priv)])).rv).toBe(CKR.KEY_TYPE_INCONSISTENT);
    expect((await c.call('C_SignInit', [u(s), { t: 'M', type: CKM.EDDSA, param: null }, u(ed.pub)])).rv).toBe(CKR.KEY_HANDLE_INVALID);
  });

  it('CKM_ECDSA pads a short digest as bits2int does; CKM_ECDSA_SHA256 hashes on the host; node:crypto verifies both', async () => {
    const point = ((await attr(c, s, p256.pub, CKA.EC_POINT)).value as Uint8Array).subarray(2);
    const key = createPublicKey(publicKeyToPem(Alg.ECDSA_P256, point));
    const msg = Buffer.from('ECDSA through PKCS#11');
    const s1 = await sign(c, s, p256.priv, CKM.ECDSA_SHA256, msg);
    expect(nodeVerify('sha256', msg, { key, dsaEncoding: 'ieee-p1363' }, s1)).toBe(true);
    // a 20-byte (SHA-1) digest: the device signs it left-padded to 32 bytes, which is what a verifier computes from it
    const sha1 = (await import('node:crypto')).createHash('sha1').update(msg).digest();
    const s2 = await sign(c, s, p256.priv, CKM.ECDSA, sha1);
    expect(nodeVerify('sha1', msg, { key, dsaEncoding: 'ieee-p1363' }, s2)).toBe(true);
    expect(nodeVerify('sha1', Buffer.from('other'), { key, dsaEncoding: 'ieee-p1363' }, s2)).toBe(false);
    expect((await c.call('C_SignInit', [u(s), { t: 'M', type: CKM.ECDSA, param: null }, u(p256.priv)])).rv).toBe(CKR.OK);
    expect((await c.call('C_Sign', [u(s), ay(new Uint8Array(0)), { t: 'fy', v: 64 }])).rv).toBe(CKR.DATA_LEN_RANGE);
    // CKM_ECDSA is one C_Sign over a digest: C_SignFinal without data does not sign a digest of zeros
    expect((await c.call('C_SignInit', [u(s), { t: 'M', type: CKM.ECDSA, param: null }, u(p256.priv)])).rv).toBe(CKR.OK);
    expect((await c.call('C_SignFinal', [u(s), { t: 'fy', v: 64 }])).rv).toBe(CKR.FUNCTION_NOT_SUPPORTED);
    expect((await c.call('C_SignFinal', [u(s), { t: 'fy', v: 64 }])).rv).toBe(CKR.OPERATION_NOT_INITIALIZED);
  });

  it('login state is per connection: another application sees no private object and cannot sign', async () => {
    const other = await connect();
    const s2 = await ready(other, false);
    const handles = await find(other, s2, []);
    expect(handles).toContain(ed.pub);
    expect(handles).not.toContain(ed.priv);
    expect((await other.call('C_SignInit', [u(s2), { t: 'M', type: CKM.EDDSA, param: null }, u(ed.priv)])).rv).toBe(CKR.USER_NOT_LOGGED_IN);
    expect((await attr(other, s2, ed.priv, CKA.CLASS)).rv).toBe(CKR.OBJECT_HANDLE_INVALID);
    // and the first one still signs
    expect((await sign(c, s, ed.priv, CKM.EDDSA, Uint8Array.of(1))).length).toBe(64);
  });

  it('C_DestroyObject removes both objects of a key; C_Logout then hides private objects', async () => {
    expect((await c.call('C_DestroyObject', [u(s), u(p256.pub)])).rv).toBe(CKR.OK);
    expect((await attr(c, s, p256.priv, CKA.CLASS)).rv).toBe(CKR.OBJECT_HANDLE_INVALID);
    expect((await c.call('C_DestroyObject', [u(s), u(p256.pub)])).rv).toBe(CKR.OBJECT_HANDLE_INVALID);
    expect((await c.call('C_Logout', [u(s)])).rv).toBe(CKR.OK);
    expect(await find(c, s, [{ type: CKA.CLASS, value: BigInt(CKO.PRIVATE_KEY) }])).toEqual([]);
    expect((await c.call('C_Finalize')).rv).toBe(CKR.OK);
    expect((await c.call('C_GetInfo')).rv).toBe(CKR.CRYPTOKI_NOT_INITIALIZED);
  });
});

describe("Teleport's CKA_LABEL and CKA_ID: the digest form through the server (docs/pkcs11.md §4.1)", () => {
  const hostUuid = Buffer.from('9b2d5e1c-7a40-4c2e-9f43-1f0c2b7d8e11');
  const id = Uint8Array.from(Buffer.from('3f1c8a9e52d04b7fa1e6c0d9b4a27e15', 'hex'));
  const params = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
  const priv = { type: CKA.CLASS, value: BigInt(CKO.PRIVATE_KEY) };
  const pubClass = { type: CKA.CLASS, value: BigInt(CKO.PUBLIC_KEY) };
  const byOriginals = [
    { type: CKA.ID, value: id },
    { type: CKA.LABEL, value: new Uint8Array(hostUuid) },
  ];

  it('the maker reads the originals back; after the cache is deleted another application reads stand-ins, and both find and sign', async () => {
    const c = await connect();
    const s = await ready(c, true);
    const kp = await keyPair(
      c,
      s,
      CKM.EC_KEY_PAIR_GEN,
      { t: 'aA', v: [{ type: CKA.EC_PARAMS, value: params }, ...byOriginals] },
      { t: 'aA', v: [{ type: CKA.SIGN, value: true }, ...byOriginals] },
    );
    expect(kp.rv).toBe(CKR.OK);
    expect(logs.some((l) => new RegExp(`key ${kp.pub / 2}: CKA_LABEL \\(36 bytes\\) and CKA_ID \\(16 bytes\\) do not fit`).test(l))).toBe(true);
    expect((await attr(c, s, kp.priv, CKA.LABEL)).value).toEqual(new Uint8Array(hostUuid));
    expect((await attr(c, s, kp.priv, CKA.ID)).value).toEqual(id);
    expect(await find(c, s, [priv, ...byOriginals])).toEqual([kp.priv]);
    expect(await find(c, s, [{ type: CKA.LABEL, value: new Uint8Array(hostUuid) }])).toEqual([kp.pub, kp.priv]);
    // the cache holds the originals, so another application reads them back too
    const c2 = await connect();
    const s2 = await ready(c2, true);
    expect((await attr(c2, s2, kp.pub, CKA.ID)).value).toEqual(id);
    c2.close();

    rmSync(join(dir, 'cache.json'));
    const d = await connect();
    const t = await ready(d, true);
    expect(logs.some((l) => l.includes(`key ${kp.pub / 2}: CKA_LABEL and CKA_ID are stored as digests and the public-object cache holds no originals`))).toBe(
      true,
    );
    const label = (await attr(d, t, kp.priv, CKA.LABEL)).value as Uint8Array;
    const standId = (await attr(d, t, kp.priv, CKA.ID)).value as Uint8Array;
    expect(label).toHaveLength(26);
    expect(label[0]).toBe(0x1f);
    expect(standId).toHaveLength(9);
    expect(await find(d, t, [priv, ...byOriginals])).toEqual([kp.priv]);
    // crypto11's makeKeyPair: the values read from the private key find the public key
    expect(await find(d, t, [pubClass, { type: CKA.ID, value: standId }, { type: CKA.LABEL, value: label }])).toEqual([kp.pub]);
    expect(await find(d, t, [{ type: CKA.LABEL, value: new Uint8Array(Buffer.from('another host')) }])).toEqual([]);
    const point = ((await attr(d, t, kp.pub, CKA.EC_POINT)).value as Uint8Array).subarray(2);
    const msg = Buffer.from('signed with a digest-form key');
    const sig = await sign(d, t, kp.priv, CKM.ECDSA_SHA256, msg);
    expect(nodeVerify('sha256', msg, { key: createPublicKey(publicKeyToPem(Alg.ECDSA_P256, point)), dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
    // the maker still has them in its own memory; the cache written at the last login has none
    expect((await attr(c, s, kp.priv, CKA.LABEL)).value).toEqual(new Uint8Array(hostUuid));
    const cached = JSON.parse(readFileSync(join(dir, 'cache.json'), 'utf8')) as { devices: { [id: string]: { keys: { keyId: number; p11Label?: string }[] } } };
    const entry = Object.values(cached.devices)[0].keys.find((k) => k.keyId === kp.pub / 2);
    expect(entry && entry.p11Label).toBeUndefined();
  });
});
