// The worked example of docs/session.md §7 (test/vectors/session-example.json), recomputed by the device module (noble) and by host/session.ts (OpenSSL), and found in the document.
import { msgOf } from '../helpers/message.ts';
import { describe, it, expect } from 'vitest';
import { createHash, createHmac, createPrivateKey, hkdfSync, sign as nodeSign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getQuickJS } from 'quickjs-emscripten';
import { createNobleCrypto } from '../../firmware/hal/crypto_noble.ts';
import {
  DIRECTION_CANCEL,
  DIRECTION_DEVICE_TO_HOST,
  DIRECTION_HOST_TO_DEVICE,
  cancelNonce,
  INFO_DEVICE_TO_HOST,
  INFO_HOST_TO_DEVICE,
  envelopeAad,
  envelopeNonce,
  openEnvelope,
  openSession,
  sealResponse,
  transcript,
} from '../../firmware/core/session/index.ts';
import * as host from '../../host/session.ts';
// @ts-expect-error tools/build.mjs is plain JS without type declarations
import { buildFirmware, FIRMWARE_TARGETS, ROOT } from '../../tools/build.mjs';

const V = JSON.parse(readFileSync(new URL('../vectors/session-example.json', import.meta.url), 'utf8'));
const rfc7748 = JSON.parse(readFileSync(new URL('../vectors/rfc7748.json', import.meta.url), 'utf8'));
const rfc8032 = JSON.parse(readFileSync(new URL('../vectors/rfc8032.json', import.meta.url), 'utf8'));
const H = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const c = createNobleCrypto();

describe('session worked example', () => {
  it('its inputs are the published RFC 8032 and RFC 7748 values', () => {
    expect(V.source).toMatch(/RFC 8032/);
    const dh = rfc7748.diffieHellman;
    expect([V.hostEphemeralSecret, V.hostEphemeral, V.deviceEphemeralSecret, V.deviceEphemeral, V.shared]).toEqual([
      dh.alicePrivate,
      dh.alicePublic,
      dh.bobPrivate,
      dh.bobPublic,
      dh.shared,
    ]);
    const t1 = JSON.stringify(rfc8032);
    expect(t1).toContain(V.identitySeed);
    expect(t1).toContain(V.identityPublicKey);
  });

  it('the device module (noble) computes every value', () => {
    const rng = { fill: (b: Uint8Array) => b.set(H(V.deviceEphemeralSecret)) };
    const r = openSession(c, rng, H(V.identitySeed), H(V.deviceId), H(V.hostEphemeral), V.sessionId, 0);
    if (!r.ok) throw new Error(msgOf(r));
    const { reply, state } = r.value;
    expect(hex(reply.deviceEphemeral)).toBe(V.deviceEphemeral);
    expect(reply.sessionId).toBe(V.sessionId);
    const t = transcript(H(V.deviceId), H(V.hostEphemeral), reply.deviceEphemeral, V.sessionId);
    expect(t.length).toBe(V.transcriptLength);
    expect(hex(t)).toBe(V.transcript);
    expect(hex(reply.signature)).toBe(V.signature);
    expect(hex(c.x25519(H(V.hostEphemeralSecret), H(V.deviceEphemeral)))).toBe(V.shared);
    expect(hex(c.sha256(t))).toBe(V.salt);
    expect(hex(c.hmacSha256(H(V.salt), H(V.shared)))).toBe(V.prk); // HKDF-Extract (RFC 5869 §2.2)
    expect(Buffer.from(INFO_HOST_TO_DEVICE).toString('hex')).toBe(V.infoHostToDevice);
    expect(Buffer.from(INFO_DEVICE_TO_HOST).toString('hex')).toBe(V.infoDeviceToHost);
    expect(hex(state.keyIn)).toBe(V.keyHostToDevice);
    expect(hex(state.keyOut)).toBe(V.keyDeviceToHost);
    expect(hex(envelopeNonce(V.request.counter))).toBe(V.request.nonce);
    expect(hex(envelopeAad(V.sessionId, V.request.counter, DIRECTION_HOST_TO_DEVICE))).toBe(V.request.aad);
    expect(hex(envelopeAad(V.sessionId, V.response.counter, DIRECTION_DEVICE_TO_HOST))).toBe(V.response.aad);
    const req = openEnvelope(state, V.request.counter, H(V.request.envelope), 0);
    if (!req.ok) throw new Error(msgOf(req));
    expect(hex(req.value)).toBe(V.request.plaintext);
    const resp = sealResponse(state, V.response.counter, H(V.response.plaintext), 0);
    if (!resp.ok) throw new Error(msgOf(resp));
    expect(hex(resp.value)).toBe(V.response.envelope);
  });

  it('host/session.ts (OpenSSL) computes every value', () => {
    const hs = host.SessionHandshake.create({ ephemeralSecret: H(V.hostEphemeralSecret) });
    expect(hex(hs.hostEphemeral)).toBe(V.hostEphemeral);
    const t = host.sessionTranscript(H(V.deviceId), hs.hostEphemeral, H(V.deviceEphemeral), V.sessionId);
    expect(t.toString('hex')).toBe(V.transcript);
    const shared = host.x25519Shared(H(V.deviceEphemeralSecret), H(V.hostEphemeral));
    expect(shared.toString('hex')).toBe(V.shared);
    expect(createHash('sha256').update(t).digest('hex')).toBe(V.salt);
    expect(createHmac('sha256', H(V.salt)).update(shared).digest('hex')).toBe(V.prk);
    const keys = host.sessionKeys(shared, t);
    expect(keys.hostToDevice.toString('hex')).toBe(V.keyHostToDevice);
    expect(keys.deviceToHost.toString('hex')).toBe(V.keyDeviceToHost);
    expect(Buffer.from(hkdfSync('sha256', H(V.shared), H(V.salt), H(V.infoHostToDevice), 32)).toString('hex')).toBe(V.keyHostToDevice);
    expect(host.envelopeNonce(V.request.counter).toString('hex')).toBe(V.request.nonce);
    expect(host.envelopeAad(V.sessionId, V.request.counter, host.DIRECTION_HOST_TO_DEVICE).toString('hex')).toBe(V.request.aad);
    expect(host.envelopeAad(V.sessionId, V.response.counter, host.DIRECTION_DEVICE_TO_HOST).toString('hex')).toBe(V.response.aad);
    // Ed25519 is deterministic (RFC 8032): OpenSSL's signature with the identity seed is the device's
    const seedKey = createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), H(V.identitySeed)]),
      format: 'der',
      type: 'pkcs8',
    });
    expect(nodeSign(null, t, seedKey).toString('hex')).toBe(V.signature);
    const s = hs.finish(
      H(V.deviceId),
      H(V.identityPublicKey),
      { sessionId: V.sessionId, deviceEphemeral: H(V.deviceEphemeral), signature: H(V.signature) },
      { now: 0 },
    );
    const env = s.seal(H(V.request.plaintext), 0);
    expect(env.counter).toBe(V.request.counter);
    expect(hex(env.ciphertext)).toBe(V.request.envelope);
    expect(hex(s.open(V.response.counter, H(V.response.envelope)))).toBe(V.response.plaintext);
  });

  it('the CANCEL token of docs/protocol.md §5 (session.md §4.1): the host makes it, the device (noble) opens it, and only for its counter', () => {
    const token = '6736210c007d6530d4a5ef4b4972efe5';
    const hs = host.SessionHandshake.create({ ephemeralSecret: H(V.hostEphemeralSecret) });
    const s = hs.finish(
      H(V.deviceId),
      H(V.identityPublicKey),
      { sessionId: V.sessionId, deviceEphemeral: H(V.deviceEphemeral), signature: H(V.signature) },
      { now: 0 },
    );
    expect(hex(s.cancelToken(1))).toBe(token);
    expect(host.cancelNonce(1).toString('hex')).toBe('000000010000000000000001');
    expect(hex(cancelNonce(1))).toBe('000000010000000000000001');
    const aad = envelopeAad(V.sessionId, 1, DIRECTION_CANCEL);
    expect(hex(aad)).toBe('01000000000000000103');
    expect(c.aeadOpen(H(V.keyHostToDevice), cancelNonce(1), H(token), aad)).toEqual(new Uint8Array(0));
    expect(c.aeadOpen(H(V.keyHostToDevice), cancelNonce(2), H(token), envelopeAad(V.sessionId, 2, DIRECTION_CANCEL))).toBeUndefined();
    // never an envelope: the request envelope's nonce and direction do not open it
    expect(c.aeadOpen(H(V.keyHostToDevice), envelopeNonce(1), H(token), envelopeAad(V.sessionId, 1, DIRECTION_HOST_TO_DEVICE))).toBeUndefined();
  });

  it('docs/session.md shows every value of the example', () => {
    const doc = readFileSync(new URL('../../docs/session.md', import.meta.url), 'utf8').replace(/\s+/g, ' ');
    const flat = (o: object): string[] =>
      Object.values(o).flatMap((v) => (typeof v === 'object' ? flat(v) : typeof v === 'string' && /^[0-9a-f]{16,}$/.test(v) ? [v] : []));
    const values = flat(V);
    expect(values.length).toBeGreaterThan(20);
    // long values may be wrapped in the document; compare with whitespace removed inside hex blocks
    const docHex = doc.replace(/([0-9a-f]) (?=[0-9a-f])/g, '$1');
    for (const v of values) expect(docHex, v).toContain(v);
  });

  it('the device code, bundled for the generic target (es2020, device checks), reproduces the example inside QuickJS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-h8-qjs-'));
    try {
      const entry = join(dir, 'probe.ts');
      const imp = (p: string) => JSON.stringify(join(ROOT, p));
      writeFileSync(
        entry,
        [
          `import { createNobleCrypto } from ${imp('firmware/hal/crypto_noble.ts')};`,
          `import { openSession, openEnvelope, sealResponse } from ${imp('firmware/core/session/index.ts')};`,
          `import { fromHex, toHex } from ${imp('firmware/protocol/bytes.ts')};`,
          'const h = (s: string) => fromHex(s) as Uint8Array;',
          '(globalThis as any).runExample = (json: string) => {',
          '  const v = JSON.parse(json);',
          '  const c = createNobleCrypto();',
          '  const rng = { fill: (b: Uint8Array) => b.set(h(v.deviceEphemeralSecret)) };',
          '  const r = openSession(c, rng, h(v.identitySeed), h(v.deviceId), h(v.hostEphemeral), v.sessionId, 0);',
          '  if (!r.ok) return "refused: " + r.message;',
          '  const q = openEnvelope(r.value.state, v.request.counter, h(v.request.envelope), 0);',
          '  if (!q.ok) return "refused: " + q.message;',
          '  const s = sealResponse(r.value.state, v.response.counter, h(v.response.plaintext), 0);',
          '  if (!s.ok) return "refused: " + s.message;',
          '  return JSON.stringify({ deviceEphemeral: toHex(r.value.reply.deviceEphemeral), signature: toHex(r.value.reply.signature),',
          '    k1: toHex(r.value.state.keyIn), k2: toHex(r.value.state.keyOut), request: toHex(q.value), response: toHex(s.value) });',
          '};',
        ].join('\n'),
      );
      const spec = { ...FIRMWARE_TARGETS.find((t: { name: string }) => t.name === 'generic'), name: 'generic-session-probe', entry };
      const b = await buildFirmware(spec, { root: ROOT });
      expect(b.problems).toEqual([]);
      // the same code also passes the Kaluma (JerryScript, es2019) build's checks; there is no JerryScript here to run it
      const k = await buildFirmware(
        { ...FIRMWARE_TARGETS.find((t: { name: string }) => t.name === 'kaluma'), name: 'kaluma-session-probe', entry },
        { root: ROOT },
      );
      expect(k.problems).toEqual([]);
      const QuickJS = await getQuickJS();
      const vm = QuickJS.newContext();
      try {
        vm.unwrapResult(vm.evalCode(b.code)).dispose();
        const out = vm.dump(vm.unwrapResult(vm.evalCode(`runExample(${JSON.stringify(JSON.stringify(V))})`)));
        expect(JSON.parse(out)).toEqual({
          deviceEphemeral: V.deviceEphemeral,
          signature: V.signature,
          k1: V.keyHostToDevice,
          k2: V.keyDeviceToHost,
          request: V.request.plaintext,
          response: V.response.envelope,
        });
      } finally {
        vm.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
