// Officer key files (host/officer-keys.ts, docs/quorum.md §6): the key signs what node:crypto verifies with the public half; a wrong passphrase, a swapped public key or an edited ciphertext opens nothing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newOfficerKey, openOfficerKey, readOfficerPublic } from '../../host/officer-keys.ts';
import { approvalBytes, signApproval } from '../../host/approvals.ts';
import { Command } from '../../firmware/protocol/index.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tinyhsm-officer-keys-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('officer key files', () => {
  it('open with the passphrase and sign approvals that node:crypto verifies with the .pub key', () => {
    const k = newOfficerKey('alice', 'pass phrase 1');
    writeFileSync(join(dir, 'a.key'), k.file);
    writeFileSync(join(dir, 'a.key.pub'), k.publicFile);
    expect(readOfficerPublic(join(dir, 'a.key.pub'))).toEqual(k.officer);
    expect(readOfficerPublic(join(dir, 'a.key'))).toEqual(k.officer);
    const { privateKey } = openOfficerKey(join(dir, 'a.key'), 'pass phrase 1');
    const req = { deviceId: new Uint8Array(16).fill(1), challenge: new Uint8Array(16).fill(2), command: Command.RESET, request: {} };
    const a = signApproval(req, 3, privateKey);
    const pub = createPublicKey({
      key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(k.officer.publicKey)]),
      format: 'der',
      type: 'spki',
    });
    expect(a.officer).toBe(3);
    expect(nodeVerify(null, approvalBytes(req), pub, a.signature)).toBe(true);
    // the file holds no plaintext key: the PKCS#8 export of the key is not in it
    const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(16).toString('hex');
    expect(k.file).not.toContain(seed);
  });

  it('refuses a wrong passphrase, another public key in the file, and an edited ciphertext', () => {
    const k = newOfficerKey('bob', 'right one');
    const path = join(dir, 'b.key');
    writeFileSync(path, k.file);
    expect(() => openOfficerKey(path, 'wrong one')).toThrow(/wrong passphrase/);
    const other = JSON.parse(newOfficerKey('eve', 'x').file);
    const f = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(join(dir, 'swapped.key'), JSON.stringify({ ...f, publicKey: other.publicKey }));
    expect(() => openOfficerKey(join(dir, 'swapped.key'), 'right one')).toThrow(/wrong passphrase, or the file was changed/);
    const flipped = f.ciphertext.slice(0, -2) + (f.ciphertext.slice(-2) === '00' ? '01' : '00');
    writeFileSync(join(dir, 'edited.key'), JSON.stringify({ ...f, ciphertext: flipped }));
    expect(() => openOfficerKey(join(dir, 'edited.key'), 'right one')).toThrow(/wrong passphrase, or the file was changed/);
    expect(() => openOfficerKey(join(dir, 'b.key.pub.missing'), 'x')).toThrow(/cannot read/);
    expect(() => newOfficerKey('a label longer than twelve', 'x')).toThrow(/1 to 12 bytes/);
  });
});
