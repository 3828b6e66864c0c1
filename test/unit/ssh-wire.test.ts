// host/ssh.ts against the specs: RFC 4251 §5 mpint examples, key and signature blobs node:crypto checks (RFC 8709, RFC 5656, RFC 8332), certificates read back (PROTOCOL.certkeys), session-bind parsing (PROTOCOL.agent) and ssh-keygen -V intervals.
import { generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Alg } from '../../firmware/protocol/index.ts';
import { publicKeyToSsh } from '../../host/pubkey-format.ts';
import {
  CertType,
  DEFAULT_USER_EXTENSIONS,
  FOREVER,
  SshFormatError,
  SshReader,
  SshWriter,
  certificateToBeSigned,
  devicePublicKeyBlob,
  fingerprint,
  mpintBody,
  mpintValue,
  parseCertificate,
  parsePublicKeyBlob,
  parsePublicKeyLine,
  parseSessionBind,
  parseValidity,
  sshSignatureBlob,
  verifySshSignature,
} from '../../host/ssh.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const b64u = (s: string) => Buffer.from(s, 'base64url');

/** A key pair made by node:crypto, its SSH public key blob and a signer producing SSH signature blobs. */
function keyPair(kind: 'ed25519' | 'p256' | 'p384' | 'p521' | 'rsa'): {
  blob: Uint8Array;
  sign(d: Uint8Array, rsaHash?: string): Uint8Array;
  privateKey: KeyObject;
} {
  if (kind === 'ed25519') {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const blob = new SshWriter()
      .string('ssh-ed25519')
      .string(b64u(publicKey.export({ format: 'jwk' }).x as string))
      .bytes();
    return {
      blob,
      privateKey,
      sign: (d) =>
        new SshWriter()
          .string('ssh-ed25519')
          .string(nodeSign(null, d, privateKey))
          .bytes(),
    };
  }
  if (kind === 'rsa') {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const jwk = publicKey.export({ format: 'jwk' });
    const w = new SshWriter().string('ssh-rsa');
    w.mpintUnsigned(b64u(jwk.e as string)).mpintUnsigned(b64u(jwk.n as string));
    return {
      blob: w.bytes(),
      privateKey,
      sign: (d, name = 'rsa-sha2-256') =>
        new SshWriter()
          .string(name)
          .string(nodeSign({ 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512', 'ssh-rsa': 'sha1' }[name]!, d, privateKey))
          .bytes(),
    };
  }
  const curve = { p256: ['P-256', 'nistp256', 'sha256', 32], p384: ['P-384', 'nistp384', 'sha384', 48], p521: ['P-521', 'nistp521', 'sha512', 66] }[kind] as [
    string,
    string,
    string,
    number,
  ];
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: curve[0] });
  const jwk = publicKey.export({ format: 'jwk' });
  const q = Buffer.concat([Buffer.of(4), b64u(jwk.x as string), b64u(jwk.y as string)]);
  const type = 'ecdsa-sha2-' + curve[1];
  return {
    blob: new SshWriter().string(type).string(curve[1]).string(q).bytes(),
    privateKey,
    sign: (d) => {
      const rs = nodeSign(curve[2], d, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      const inner = new SshWriter().mpintUnsigned(rs.subarray(0, curve[3])).mpintUnsigned(rs.subarray(curve[3])).bytes();
      return new SshWriter().string(type).string(inner).bytes();
    },
  };
}

describe('RFC 4251 §5 data types', () => {
  it('encodes the mpint examples of RFC 4251 §5 and reads them back', () => {
    const examples: [bigint, string][] = [
      [0n, '00000000'],
      [0x9a378f9b2e332a7n, '0000000809a378f9b2e332a7'],
      [0x80n, '000000020080'],
      [-0x1234n, '00000002edcc'],
      [-0xdeadbeefn, '00000005ff21524111'],
    ];
    for (const [n, wire] of examples) {
      expect(hex(new SshWriter().mpint(n).bytes()), String(n)).toBe(wire);
      expect(new SshReader(Buffer.from(wire, 'hex')).mpint()).toBe(n);
    }
    expect(hex(mpintBody(-1n))).toBe('ff');
    expect(hex(mpintBody(127n))).toBe('7f');
    expect(hex(mpintBody(-128n))).toBe('80');
    expect(hex(mpintBody(-129n))).toBe('ff7f');
  });

  it('refuses mpints with the unnecessary leading bytes RFC 4251 §5 forbids', () => {
    expect(() => mpintValue(Buffer.from('0001', 'hex'))).toThrow(SshFormatError);
    expect(() => mpintValue(Buffer.from('ff80', 'hex'))).toThrow(SshFormatError);
    expect(mpintValue(Buffer.from('0080', 'hex'))).toBe(0x80n);
    expect(mpintValue(Buffer.from('ff7f', 'hex'))).toBe(-129n);
  });

  it('unsigned magnitudes (ECDSA r and s) get a 0x00 only when their top bit is set, and lose leading zeros', () => {
    expect(hex(new SshWriter().mpintUnsigned(Buffer.from('0000ff01', 'hex')).bytes())).toBe('0000000300ff01');
    expect(hex(new SshWriter().mpintUnsigned(Buffer.from('007f', 'hex')).bytes())).toBe('000000017f');
    expect(hex(new SshWriter().mpintUnsigned(new Uint8Array(4)).bytes())).toBe('00000000');
  });

  it('reads strings, uint32, uint64 and booleans, and throws on every short read instead of returning garbage', () => {
    const b = new SshWriter().byte(7).bool(true).uint32(0xdeadbeef).uint64(0x0102030405060708n).string('héllo').bytes();
    const r = new SshReader(b);
    expect([r.byte(), r.bool(), r.uint32(), r.uint64(), r.text()]).toEqual([7, true, 0xdeadbeef, 0x0102030405060708n, 'héllo']);
    r.end();
    expect(() => new SshReader(Buffer.from('000000', 'hex')).uint32()).toThrow(SshFormatError);
    expect(() => new SshReader(Buffer.from('00000005616263', 'hex')).string()).toThrow(/needs 5 bytes, 3 left/);
    expect(() => new SshReader(Buffer.from('ffffffff', 'hex')).string()).toThrow(SshFormatError);
    expect(() => new SshReader(Buffer.from('00000002c328', 'hex')).text()).toThrow(/UTF-8/);
    const extra = new SshReader(Buffer.from('0000000000', 'hex'));
    extra.uint32();
    expect(() => extra.end()).toThrow(/1 unexpected trailing/);
    expect(() => new SshWriter().uint64(-1n)).toThrow(RangeError);
  });
});

describe('keys and signatures', () => {
  it('a device key blob is the one in `tinyhsm pubkey --format ssh` (pubkey-format.ts), and parses back', () => {
    const ed = keyPair('ed25519');
    const edRaw = new SshReader(ed.blob);
    edRaw.text();
    const edPk = edRaw.string();
    expect(hex(devicePublicKeyBlob(Alg.ED25519, edPk))).toBe(hex(ed.blob));
    expect(publicKeyToSsh(Alg.ED25519, edPk, 'c')).toBe(`ssh-ed25519 ${Buffer.from(ed.blob).toString('base64')} c`);
    const p = keyPair('p256');
    const pr = new SshReader(p.blob);
    pr.text();
    pr.text();
    const q = pr.string();
    expect(hex(devicePublicKeyBlob(Alg.ECDSA_P256, q))).toBe(hex(p.blob));
    expect(parsePublicKeyBlob(p.blob).type).toBe('ecdsa-sha2-nistp256');
    expect(() => devicePublicKeyBlob(Alg.X25519, new Uint8Array(32))).toThrow(/no public key format/);
    // OpenSSH's own rendering of this fingerprint form: SHA256: and unpadded base64
    expect(fingerprint(ed.blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('parses public key lines and refuses a line whose name and key disagree, or another kind of file', () => {
    const ed = keyPair('ed25519');
    const line = `ssh-ed25519 ${Buffer.from(ed.blob).toString('base64')} alice@laptop`;
    const k = parsePublicKeyLine(line + '\n');
    expect(k.comment).toBe('alice@laptop');
    expect(hex(k.blob)).toBe(hex(ed.blob));
    expect(() => parsePublicKeyLine(line.replace('ssh-ed25519', 'ssh-rsa'))).toThrow(/says ssh-rsa but its key is ssh-ed25519/);
    expect(() => parsePublicKeyLine('-----BEGIN PUBLIC KEY-----')).toThrow(SshFormatError);
    expect(() => parsePublicKeyLine('Port 2222')).toThrow(/not an OpenSSH public key line/);
    const dss = new SshWriter().string('ssh-dss').mpint(1n).mpint(2n).mpint(3n).mpint(4n).bytes();
    expect(() => parsePublicKeyLine(`ssh-dss ${Buffer.from(dss).toString('base64')}`)).toThrow(/unsupported key type ssh-dss/);
    const shortEd = new SshWriter().string('ssh-ed25519').string(new Uint8Array(31)).bytes();
    expect(() => parsePublicKeyBlob(shortEd)).toThrow(/32 bytes/);
    const trailing = new SshWriter().raw(ed.blob).byte(0).bytes();
    expect(() => parsePublicKeyBlob(trailing)).toThrow(/trailing/);
    const offCurve = new SshWriter()
      .string('ecdsa-sha2-nistp256')
      .string('nistp256')
      .string(Buffer.concat([Buffer.of(4), Buffer.alloc(64, 1)]))
      .bytes();
    expect(() => parsePublicKeyBlob(offCurve)).toThrow(/not on nistp256/);
  });

  it('verifies the signature blobs of every host key type it supports, and refuses them over other data or from another key', () => {
    const data = Buffer.from('an exchange hash');
    for (const kind of ['ed25519', 'p256', 'p384', 'p521', 'rsa'] as const) {
      const k = keyPair(kind);
      const other = keyPair(kind);
      expect(verifySshSignature(k.blob, k.sign(data), data), kind).toBe('verified');
      expect(verifySshSignature(k.blob, k.sign(data), Buffer.from('another hash')), kind).toBe('bad');
      expect(verifySshSignature(k.blob, other.sign(data), data), kind).toBe('bad');
      expect(verifySshSignature(k.blob, k.sign(data).subarray(0, 20), data), kind).toBe('bad');
    }
    const rsa = keyPair('rsa');
    expect(verifySshSignature(rsa.blob, rsa.sign(data, 'rsa-sha2-512'), data)).toBe('verified');
    expect(verifySshSignature(rsa.blob, rsa.sign(data, 'ssh-rsa'), data)).toBe('verified');
    // the signature type must be the key's: an Ed25519 signature under an ECDSA name is refused
    const ed = keyPair('ed25519');
    const renamed = new SshWriter()
      .string('ecdsa-sha2-nistp256')
      .string(nodeSign(null, data, ed.privateKey))
      .bytes();
    expect(verifySshSignature(ed.blob, renamed, data)).toBe('bad');
    // a type it cannot check is "unsupported", never "verified"
    const dss = new SshWriter().string('ssh-dss').mpint(1n).mpint(2n).mpint(3n).mpint(4n).bytes();
    expect(verifySshSignature(dss, new SshWriter().string('ssh-dss').string(new Uint8Array(40)).bytes(), data)).toBe('unsupported');
    expect(verifySshSignature(new SshWriter().string('sk-ssh-ed25519@openssh.com').bytes(), new Uint8Array(0), data)).toBe('unsupported');
  });

  it('makes ecdsa-sha2-nistp256 signature blobs of raw r‖s with minimal mpints, that node:crypto verifies over SHA-256', () => {
    const k = keyPair('p256');
    const data = Buffer.from('userauth request');
    for (let i = 0; i < 20; i++) {
      const rs = nodeSign('sha256', data, { key: k.privateKey, dsaEncoding: 'ieee-p1363' });
      const blob = sshSignatureBlob(Alg.ECDSA_P256, rs);
      expect(verifySshSignature(k.blob, blob, data)).toBe('verified');
      const outer = new SshReader(blob);
      expect(outer.text()).toBe('ecdsa-sha2-nistp256');
      const inner = new SshReader(outer.string());
      const r = inner.string();
      // r is a positive mpint of the same value, minimal (mpintValue refuses an unneeded 0x00), its top bit clear
      expect(mpintValue(r)).toBe(BigInt('0x' + hex(rs.subarray(0, 32))));
      expect(r[0] & 0x80).toBe(0);
    }
    expect(() => sshSignatureBlob(Alg.ECDSA_P256, new Uint8Array(63))).toThrow(SshFormatError);
    expect(() => sshSignatureBlob(Alg.X25519, new Uint8Array(64))).toThrow(SshFormatError);
    const ed = keyPair('ed25519');
    expect(verifySshSignature(ed.blob, sshSignatureBlob(Alg.ED25519, nodeSign(null, data, ed.privateKey)), data)).toBe('verified');
  });

  it('parses session-bind@openssh.com contents and refuses a truncated or padded one', () => {
    const body = new SshWriter().string('key').string('sid').string('sig').bool(true).bytes();
    const b = parseSessionBind(body);
    expect([b.hostKey, b.sessionId, b.signature].map((x) => Buffer.from(x).toString())).toEqual(['key', 'sid', 'sig']);
    expect(b.forwarding).toBe(true);
    expect(parseSessionBind(new SshWriter().string('k').string('s').string('g').byte(0).bytes()).forwarding).toBe(false);
    expect(() => parseSessionBind(body.subarray(0, body.length - 1))).toThrow(SshFormatError);
    expect(() => parseSessionBind(new SshWriter().raw(body).byte(0).bytes())).toThrow(/trailing/);
  });
});

describe('certificates (PROTOCOL.certkeys)', () => {
  it('lays out every field in order, copies the subject key after the nonce, sorts extensions, and reads back', () => {
    const subject = keyPair('p256');
    const ca = keyPair('ed25519');
    const nonce = new Uint8Array(32).fill(9);
    const tbs = certificateToBeSigned(subject.blob, ca.blob, {
      nonce,
      serial: 0xfedcba9876543210n,
      type: CertType.USER,
      keyId: 'alice',
      principals: ['alice', 'root'],
      validAfter: 100n,
      validBefore: FOREVER,
      criticalOptions: [['source-address', new SshWriter().string('10.0.0.0/8').bytes()]],
      extensions: [...DEFAULT_USER_EXTENSIONS].reverse().map((n): [string, Uint8Array] => [n, new Uint8Array(0)]),
    });
    const sig = ca.sign(tbs);
    const cert = parseCertificate(new SshWriter().raw(tbs).string(sig).bytes());
    expect(cert.certType).toBe('ecdsa-sha2-nistp256-cert-v01@openssh.com');
    expect(hex(cert.nonce)).toBe(hex(nonce));
    expect(hex(cert.key.blob)).toBe(hex(subject.blob));
    expect(cert.serial).toBe(0xfedcba9876543210n);
    expect(cert.type).toBe(CertType.USER);
    expect(cert.keyId).toBe('alice');
    expect(cert.principals).toEqual(['alice', 'root']);
    expect([cert.validAfter, cert.validBefore]).toEqual([100n, FOREVER]);
    expect(cert.criticalOptions.map(([n]) => n)).toEqual(['source-address']);
    // lexical byte order: "permit-X11-forwarding" (X = 0x58) before "permit-agent-forwarding"
    expect(cert.extensions.map(([n]) => n)).toEqual([
      'permit-X11-forwarding',
      'permit-agent-forwarding',
      'permit-port-forwarding',
      'permit-pty',
      'permit-user-rc',
    ]);
    expect(hex(cert.caKey)).toBe(hex(ca.blob));
    expect(hex(cert.signed)).toBe(hex(tbs));
    expect(verifySshSignature(cert.caKey, cert.signature, cert.signed)).toBe('verified');
    // the certificate's key is the subject's (what a session-bind with a certificate host key checks)
    expect(parsePublicKeyBlob(new SshWriter().raw(tbs).string(sig).bytes()).type).toBe('ecdsa-sha2-nistp256-cert-v01@openssh.com');
  });

  it('refuses a duplicate extension, an empty principal, an empty interval or a certificate as subject; a nonce not given is 32 random bytes', () => {
    const s = keyPair('ed25519');
    const ca = keyPair('ed25519');
    const base = { serial: 1n, type: CertType.USER, keyId: 'k', principals: ['a'], validAfter: 0n, validBefore: 10n };
    expect(() =>
      certificateToBeSigned(s.blob, ca.blob, {
        ...base,
        extensions: [
          ['permit-pty', new Uint8Array(0)],
          ['permit-pty', new Uint8Array(0)],
        ],
      }),
    ).toThrow(/twice/);
    expect(() => certificateToBeSigned(s.blob, ca.blob, { ...base, principals: [''] })).toThrow(/empty principal/);
    expect(() => certificateToBeSigned(s.blob, ca.blob, { ...base, validAfter: 10n })).toThrow(/empty/);
    expect(() => certificateToBeSigned(s.blob, ca.blob, { ...base, type: 3 })).toThrow(/type/);
    const tbs = certificateToBeSigned(s.blob, ca.blob, base);
    const cert = new SshWriter().raw(tbs).string(ca.sign(tbs)).bytes();
    expect(() => certificateToBeSigned(cert, ca.blob, base)).toThrow(/already a certificate/);
    expect(parseCertificate(cert).nonce).toHaveLength(32);
    expect(() => parseCertificate(new SshWriter().raw(cert).byte(0).bytes())).toThrow(/trailing/);
  });
});

describe('validity intervals as ssh-keygen -V takes them', () => {
  const now = Date.UTC(2025, 5, 15, 12, 0, 0); // 2025-06-15T12:00:00Z
  const t = BigInt(now / 1000);

  it('reads relative, absolute (local and Z), hexadecimal and open-ended forms', () => {
    expect(parseValidity('+1h', now)).toEqual({ validAfter: t, validBefore: t + 3600n });
    expect(parseValidity('+52w', now)).toEqual({ validAfter: t, validBefore: t + 52n * 604800n });
    expect(parseValidity('+1h30m', now)).toEqual({ validAfter: t, validBefore: t + 5400n });
    expect(parseValidity('+90', now)).toEqual({ validAfter: t, validBefore: t + 90n });
    expect(parseValidity('-5m:+1h', now)).toEqual({ validAfter: t - 300n, validBefore: t + 3600n });
    expect(parseValidity('+2d', now).validBefore).toBe(t + 172800n);
    expect(parseValidity('always', now)).toEqual({ validAfter: 0n, validBefore: FOREVER });
    expect(parseValidity('always:+1h', now)).toEqual({ validAfter: 0n, validBefore: t + 3600n });
    expect(parseValidity('-1m:forever', now)).toEqual({ validAfter: t - 60n, validBefore: FOREVER });
    expect(parseValidity('20250101Z:20250102123000Z', now)).toEqual({ validAfter: 1735689600n, validBefore: 1735821000n });
    expect(parseValidity('0x1:0x2000000000', now)).toEqual({ validAfter: 1n, validBefore: 0x2000000000n });
    const local = BigInt(new Date(2025, 0, 1, 0, 0, 0).getTime() / 1000);
    expect(parseValidity('20250101:20250101123000', now)).toEqual({ validAfter: local, validBefore: local + 45000n });
  });

  it('refuses what ssh-keygen would not take, saying what is wrong', () => {
    expect(() => parseValidity('+5x', now)).toThrow(/validity end "\+5x"/);
    expect(() => parseValidity('-1h', now)).toThrow(/validity end "-1h"/); // an end is + or absolute
    expect(() => parseValidity('+1h:+2h', now)).toThrow(/validity start "\+1h"/); // a start is - or absolute
    expect(() => parseValidity('20250230Z:20250301Z', now)).toThrow(/start "20250230Z"/);
    expect(() => parseValidity('20250101Z:20241231Z', now)).toThrow(/ends before it starts/);
    expect(() => parseValidity('a:b:c', now)).toThrow(/at most one ":"/);
    expect(() => parseValidity('', now)).toThrow(SshFormatError);
    expect(() => parseValidity('+', now)).toThrow(SshFormatError);
  });
});
