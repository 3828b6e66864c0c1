// The one end-to-end suite every real engine runs (docs/boards.md): boot, INFO, session, INIT, LOGIN, KEY_GENERATE, SIGN (one-shot and streamed), KEY_ATTEST, ECDH, power cycle, officer approvals, the domain, a backup and RESET; heap figures into the engine report.
//
// Each engine's test file calls engineSuite() with its EngineProfile and what that board can honestly do. The
// device is driven with the project's own HsmClient through real frames; signatures are verified by node:crypto,
// ECDH secrets are checked against a node:crypto peer, attestations against the identity pinned at the handshake.
// Heap budgets fail the test; times are reported, never asserted (a slow engine is not a failure).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, createPublicKey, diffieHellman, generateKeyPairSync, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Alg, Command } from '../../firmware/protocol/index.ts';
import { HsmClient, algName } from '../../host/client.ts';
import { officerPublicKey, signApproval, type ApprovalRequest } from '../../host/approvals.ts';
import { openShare } from '../../host/domain.ts';
import { combineShares, domainIdOf } from '../helpers/shamir.ts';
import { HsmError } from '../../host/errors.ts';
import { SessionHandshake } from '../../host/session.ts';
import { publicKeyToSpkiDer } from '../../host/pubkey-format.ts';
import { checkChain, type AuditEntry } from '../../host/audit.ts';
import type { EngineDevice, EngineProfile, EngineStats } from './engine.ts';

/** Where every engine run appends one JSON line of figures (read by the CI log and docs/boards.md). */
export const ENGINE_REPORT = join(import.meta.dirname, '..', '..', 'dist', 'engine-report.jsonl');

export interface EngineExpectations {
  /**
   * 'full': the whole flow (session, INIT, LOGIN, keys, SIGN, KEY_ATTEST, ECDH, power cycle, officers, approvals, RESET).
   * 'clear': only what needs no session (INFO, ECHO), for a board whose engine has no elliptic curves.
   */
  flow: 'full' | 'clear';
  /**
   * 'clear' only: the device cannot open sessions and so serves RANDOM in the clear (docs/protocol.md §6): SESSION_OPEN
   * must be refused, RANDOM must answer in the clear, and a key command must still say SESSION_REQUIRED.
   */
  randomInClear?: boolean;
  /** Algorithms INFO must offer (their self-tests passed). */
  offers: number[];
  /** Algorithms INFO must not offer on this engine (their self-test fails or their code is not in this build). */
  withholds?: number[];
  /** What INFO's selftestFailures must say for each withheld algorithm (why the board does not offer it). */
  withheldBecause?: RegExp;
  /** Peak heap allowed (EngineStats.unit), over every power-on of the run; the test fails above it. */
  peakBudget: number;
  /** Where the budget comes from, for the failure message. */
  budgetWhy: string;
  /** Answer timeout per request: a LOGIN's PBKDF2 on JerryScript takes seconds. */
  timeoutMs?: number;
  /** Time allowed for one step of the suite (the whole-flow step sends a dozen requests); default 10 minutes. */
  stepTimeoutMs?: number;
}

const USER_PIN = 'engine-user-pin';
const SO_PIN = 'engine-so-pin-1';
const AUDITOR_PIN = 'engine-audit-pin-2';

function spki(alg: number, pub: Uint8Array) {
  return createPublicKey({ key: Buffer.from(publicKeyToSpkiDer(alg, pub)), format: 'der', type: 'spki' });
}

/** node:crypto's verdict on a device signature (Ed25519 over the message; ECDSA raw r‖s over SHA-256 of it). */
export function nodeVerifies(alg: number, pub: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  const key = spki(alg, pub);
  if (alg === Alg.ED25519) return nodeVerify(null, message, key, sig);
  return nodeVerify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, sig);
}

/** Runs `fn`, records its wall time under `name`. */
async function timed<T>(times: Record<string, number>, name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = process.hrtime.bigint();
  try {
    return await fn();
  } finally {
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    times[name] = Math.round(ms * 10) / 10;
  }
}

/** The whole suite for one engine profile; skips with one message when the engine is not built here (fails in CI). */
export function engineSuite(profile: EngineProfile, exp: EngineExpectations): void {
  const why = profile.unavailable();
  const inCi = process.env.CI === 'true' || process.env.CI === '1';
  if (why !== undefined && !inCi) {
    describe.skip(`${profile.name} (not available here: ${why})`, () => {
      it('runs the engine suite', () => {});
    });
    return;
  }

  describe(`engine ${profile.name}`, () => {
    const dir = mkdtempSync(join(tmpdir(), `tinyhsm-engine-${profile.name}-`));
    const flashFile = join(dir, 'flash.img');
    const timeoutMs = exp.timeoutMs ?? 180_000;
    const stepMs = exp.stepTimeoutMs ?? 600_000;
    const runs: EngineStats[] = [];
    const times: Record<string, number> = {};
    let dev: EngineDevice | undefined;
    let hsm: HsmClient | undefined;
    let signKey: { keyId: number; publicKey: Uint8Array; alg: number } | undefined;
    /** What the audit step found: the ring's capacity on this board (docs/audit.md §8). */
    let auditCapacity: number | undefined;

    const powerOn = async (phase: string): Promise<HsmClient> => {
      dev = await timed(times, `boot${phase}`, () => profile.powerOn({ flashFile }));
      // knownDevices null: the identity is pinned in memory for this client; every handshake is still verified
      return new HsmClient(dev.transport, { knownDevices: null, trust: true, timeoutMs, retries: 1, closeOnExit: false });
    };
    const powerOff = async (): Promise<void> => {
      if (hsm) await hsm.close().catch(() => {});
      hsm = undefined;
      if (dev) runs.push(await dev.powerOff());
      dev = undefined;
    };
    const failWith = (e: unknown): never => {
      const text = dev ? dev.diagnostics() : '';
      throw new Error(`${profile.name}: ${(e as Error).message}${text ? `\nengine output:\n${text.slice(-2000)}` : ''}`);
    };
    /** The status a device refusal carries ('OK' when the request succeeded); anything else fails the step. */
    const refusedWith = (p: Promise<unknown>): Promise<string> =>
      p.then(
        () => 'OK',
        (e: unknown) => (e instanceof HsmError ? String(e.statusName) : failWith(e)),
      );

    beforeAll(async () => {
      if (why !== undefined) throw new Error(`${profile.name} must run in CI but is not available: ${why}`);
      hsm = await powerOn('');
    }, timeoutMs);

    afterAll(async () => {
      await powerOff();
      const peak = runs.reduce((m, r) => Math.max(m, r.peak), 0);
      const line = { engine: profile.name, flow: exp.flow, peak, budget: exp.peakBudget, unit: runs[0]?.unit, auditCapacity, runs, msPerCommand: times };
      mkdirSync(join(ENGINE_REPORT, '..'), { recursive: true });
      appendFileSync(ENGINE_REPORT, JSON.stringify(line) + '\n');
      console.log(
        `[engine] ${profile.name}: peak ${peak} ${line.unit ?? ''} (budget ${exp.peakBudget}); audit capacity ${auditCapacity}; ms per command ${JSON.stringify(times)}`,
      );
      rmSync(dir, { recursive: true, force: true });
    }, timeoutMs);

    it(
      'boots, passes its self-tests, and INFO says what it offers',
      async () => {
        const info = await timed(times, 'INFO', () => (hsm as HsmClient).info()).catch(failWith);
        for (const a of exp.offers) expect(info.algorithms, `${algName(a)} offered`).toContain(a);
        for (const a of exp.withholds ?? []) expect(info.algorithms, `${algName(a)} withheld`).not.toContain(a);
        if (exp.withheldBecause)
          for (const a of exp.withholds ?? []) expect(info.selftestFailures?.[a], `why ${algName(a)} is withheld`).toMatch(exp.withheldBecause);
        expect(info.deviceId.length).toBe(16);
        const echo = await timed(times, 'ECHO', () => (hsm as HsmClient).echo(new Uint8Array([1, 2, 3, 0, 0x03, 255]))).catch(failWith);
        expect(Array.from(echo)).toEqual([1, 2, 3, 0, 0x03, 255]);
      },
      stepMs,
    );

    if (exp.flow === 'clear' && exp.randomInClear) {
      it(
        'no session can open; RANDOM answers in the clear, other commands still need a session',
        async () => {
          const h = hsm as HsmClient;
          const open = await refusedWith(h.callClear(Command.SESSION_OPEN, { hostEphemeral: SessionHandshake.create().hostEphemeral }));
          expect(open, 'SESSION_OPEN').toBe('UNSUPPORTED_ALGORITHM');
          const a = (await timed(times, 'RANDOM 32', () => h.callClear(Command.RANDOM, { length: 32 })).catch(failWith)).bytes as Uint8Array;
          const b = (await timed(times, 'RANDOM 1024', () => h.callClear(Command.RANDOM, { length: 1024 })).catch(failWith)).bytes as Uint8Array;
          expect(a.length).toBe(32);
          expect(b.length).toBe(1024);
          expect(Buffer.from(a).equals(Buffer.from(b.subarray(0, 32))), 'two draws differ').toBe(false);
          // 1024 bytes of a working RNG take many distinct values (a stuck or zero source would not)
          expect(new Set(b).size).toBeGreaterThan(200);
          expect(await refusedWith(h.callClear(Command.KEY_LIST, {})), 'KEY_LIST in the clear').toBe('SESSION_REQUIRED');
          // docs/audit.md §3.1, §8: RANDOM run in the clear is recorded; past the ring's capacity (32 on this board, held to
          // a quarter of its store) the peak is measured with the log full
          for (let i = 0; i < 36; i++)
            await timed(times, 'RANDOM 16 (filling the audit ring)', () => h.callClear(Command.RANDOM, { length: 16 })).catch(failWith);
        },
        stepMs,
      );
    }

    if (exp.flow === 'full') {
      it(
        'session, INIT, LOGIN, KEY_GENERATE, SIGN verified by node:crypto, KEY_ATTEST, ECDH',
        async () => {
          const h = hsm as HsmClient;
          await timed(times, 'INIT', () => h.init({ userPin: USER_PIN, soPin: SO_PIN, label: profile.name })).catch(failWith);
          await timed(times, 'LOGIN', () => h.login('user', USER_PIN)).catch(failWith);
          const rnd = await timed(times, 'RANDOM', () => h.random(32)).catch(failWith);
          expect(rnd.length).toBe(32);
          const signing = exp.offers.filter((a) => a !== Alg.X25519);
          for (const alg of signing) {
            const name = algName(alg);
            const key = await timed(times, `KEY_GENERATE ${name}`, () => h.generateKey(alg, `engine-${name}`)).catch(failWith);
            const msg = new TextEncoder().encode(`signed in ${profile.name} with ${name}`);
            const sig = await timed(times, `SIGN ${name}`, () => h.sign(key.keyId, { message: msg })).catch(failWith);
            expect(nodeVerifies(alg, key.publicKey, msg, sig), `${name} signature verifies with node:crypto`).toBe(true);
            const wrong = new Uint8Array(msg);
            wrong[0] ^= 1;
            expect(nodeVerifies(alg, key.publicKey, wrong, sig)).toBe(false);
            if (signKey === undefined) signKey = { ...key, alg };
          }
          expect(signKey, 'at least one signing algorithm').toBeDefined();
          if (exp.offers.includes(Alg.ED25519)) {
            // docs/protocol.md §4.1: a message longer than one SIGN streams through this engine's SHA-512 twice
            const ed = await h.generateKey(Alg.ED25519, 'engine-stream').catch(failWith);
            const long = new Uint8Array(5000).map((_, i) => (i * 7 + 3) & 0xff);
            const sig = await timed(times, 'SIGN ed25519 streamed (5,000 bytes, 3 chunks per pass)', () => h.sign(ed.keyId, { message: long })).catch(failWith);
            expect(nodeVerifies(Alg.ED25519, ed.publicKey, long, sig), 'the streamed Ed25519 signature verifies with node:crypto').toBe(true);
          }
          const k = signKey as { keyId: number; publicKey: Uint8Array };
          // keyAttest verifies the statement against the identity pinned at the handshake, the nonce and the key
          const att = await timed(times, 'KEY_ATTEST', () => h.keyAttest(k.keyId, { publicKey: k.publicKey })).catch(failWith);
          expect(att.keyId).toBe(k.keyId);
          if (exp.offers.includes(Alg.X25519)) {
            const dh = await timed(times, 'KEY_GENERATE x25519', () => h.generateKey(Alg.X25519, 'engine-x25519')).catch(failWith);
            const peer = generateKeyPairSync('x25519');
            const peerRaw = new Uint8Array(peer.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
            const shared = await timed(times, 'ECDH x25519', () => h.ecdh(dh.keyId, peerRaw)).catch(failWith);
            const expected = diffieHellman({ privateKey: peer.privateKey, publicKey: spki(Alg.X25519, dh.publicKey) });
            expect(Buffer.from(shared).equals(expected), 'X25519 shared secret equals node:crypto').toBe(true);
          }
        },
        stepMs,
      );

      it(
        'a power cycle keeps the keys: after power-on the same key signs again',
        async () => {
          expect(signKey, 'the previous step made a key').toBeDefined();
          const k = signKey as { keyId: number; publicKey: Uint8Array; alg: number };
          await powerOff();
          hsm = await powerOn(' (again)');
          const h = hsm;
          const info = await h.info().catch(failWith);
          expect(info.initialized).toBe(true);
          await timed(times, 'LOGIN (after power cycle)', () => h.login('user', USER_PIN)).catch(failWith);
          const msg = new TextEncoder().encode('after the power cycle');
          const sig = await timed(times, 'SIGN (after power cycle)', () => h.sign(k.keyId, { message: msg })).catch(failWith);
          expect(nodeVerifies(k.alg, k.publicKey, msg, sig)).toBe(true);
        },
        stepMs,
      );

      // docs/audit.md: the ring filled past its capacity (so the peak above is with a full log), read back and checked with
      // node:crypto against a checkpoint signed in the engine; then forced audit refuses SIGN until the auditor acknowledges
      it(
        'the audit log: the full ring verifies against a signed checkpoint; forced audit refuses SIGN until the auditor acknowledges',
        async () => {
          expect(signKey, 'an earlier step made a key').toBeDefined();
          const k = signKey as { keyId: number; publicKey: Uint8Array; alg: number };
          const h = hsm as HsmClient;
          const first = await timed(times, 'AUDIT_CHECKPOINT', () => h.auditCheckpoint()).catch(failWith);
          const cap = first.capacity;
          auditCapacity = cap;
          expect(cap, 'a ring of some use').toBeGreaterThanOrEqual(16);
          for (let n = first.next; n < cap + 2; n++) await timed(times, 'KEY_LIST (filling the ring)', () => h.listKeys()).catch(failWith);
          const readAll = (from: number): Promise<AuditEntry[]> => h.auditReadAll(from).then((r) => r.entries, failWith);
          const cp = await h.auditCheckpoint().catch(failWith);
          expect((await timed(times, 'AUDIT_READ (16 entries)', () => h.auditRead(cp.oldest)).catch(failWith)).entries.length).toBe(16);
          const held = await readAll(0);
          expect(held.length, 'the ring holds its capacity').toBe(cap);
          expect(held[0].index, 'the oldest overwritten').toBe(cp.next - cap);
          const chain = checkChain(held, undefined);
          expect(chain.problems).toEqual([]);
          expect(chain.tip?.digest, 'the head the engine signed').toBe(Buffer.from(cp.head).toString('hex'));
          // forced audit: the ring is full of entries nobody acknowledged
          await h.login('so', SO_PIN).catch(failWith);
          await timed(times, 'AUDIT_SET (auditor PIN, forced)', () => h.auditSet({ forced: true, auditorPin: AUDITOR_PIN })).catch(failWith);
          await h.login('user', USER_PIN).catch(failWith);
          const msg = new TextEncoder().encode('audited');
          expect(await refusedWith(timed(times, 'SIGN refused (AUDIT_FULL)', () => h.sign(k.keyId, { message: msg }))), 'SIGN with the log full').toBe(
            'AUDIT_FULL',
          );
          await timed(times, 'LOGIN auditor', () => h.login('auditor', AUDITOR_PIN)).catch(failWith);
          const now = await readAll(0);
          expect(checkChain(now, undefined).problems).toEqual([]);
          await timed(times, 'AUDIT_ACK', () => h.auditAck(now[now.length - 1].index)).catch(failWith);
          await h.login('user', USER_PIN).catch(failWith);
          const sig = await h.sign(k.keyId, { message: msg }).catch(failWith);
          expect(nodeVerifies(k.alg, k.publicKey, msg, sig), 'SIGN works again once acknowledged').toBe(true);
          // the steps after this one run without forced audit
          await h.login('so', SO_PIN).catch(failWith);
          await h.auditSet({ forced: false }).catch(failWith);
          await h.login('user', USER_PIN).catch(failWith);
        },
        stepMs,
      );

      // After the power cycle, which needs the keys and PINs: the approvals are strict Ed25519 verifies in the engine's
      // own BigInt, and the RESET at the end leaves a factory-new device that no later step uses.
      it(
        'officers: M-of-N approvals verified in the engine gate RESET and policy loosening; refusals change nothing',
        async () => {
          expect(signKey, 'an earlier step made a key').toBeDefined();
          const k = signKey as { keyId: number; publicKey: Uint8Array; alg: number };
          const h = hsm as HsmClient;
          const officers = [0, 1, 2].map((i) => {
            const { privateKey } = generateKeyPairSync('ed25519');
            return { privateKey, publicKey: officerPublicKey(privateKey), label: `officer-${i}` };
          });
          const approve = (req: ApprovalRequest, signers: [number, KeyObject][]) => signers.map(([i, key]) => signApproval(req, i, key));
          /** After a refusal: still initialized, with the officers and the key made earlier (docs/quorum.md §2). */
          const unchanged = async (what: string) => {
            const info = await h.info().catch(failWith);
            expect(info.initialized, `${what}: still initialized`).toBe(true);
            expect(info.threshold, `${what}: officers kept`).toBe(2);
            const keys = await h.listKeys().catch(failWith);
            expect(
              keys.map((e) => e.keyId),
              `${what}: key ${k.keyId} kept`,
            ).toContain(k.keyId);
          };

          // docs/quorum.md §1: the first enrolment is the SO's alone; INFO shows M and SHA-256(public key)[0..8] of each
          await timed(times, 'LOGIN so', () => h.login('so', SO_PIN)).catch(failWith);
          await timed(times, 'OFFICERS_SET (3 officers)', () =>
            h.setOfficers(
              2,
              officers.map((o) => ({ publicKey: o.publicKey, label: o.label })),
            ),
          ).catch(failWith);
          const enrolled = await h.info().catch(failWith);
          expect(enrolled.threshold).toBe(2);
          expect((enrolled.officers ?? []).map((o) => [Buffer.from(o.fingerprint).toString('hex'), o.label])).toEqual(
            officers.map((o) => [createHash('sha256').update(o.publicKey).digest().subarray(0, 8).toString('hex'), o.label]),
          );

          // docs/quorum.md §4: RESET with fewer than M approvals
          let req = await timed(times, 'APPROVAL_CHALLENGE', () => h.approvalRequest(Command.RESET, {})).catch(failWith);
          const one = { challenge: req.challenge, approvals: approve(req, [[0, officers[0].privateKey]]) };
          expect(await refusedWith(h.reset(one)), 'RESET with 1 of 2 approvals').toBe('APPROVAL_REQUIRED');
          await unchanged('RESET with 1 approval');

          // docs/quorum.md §2: one of the two signed for another command (OFFICERS_SET) over the same challenge; the
          // engine accepts officer 0's signature and must refuse officer 1's
          req = await h.approvalRequest(Command.RESET, {}).catch(failWith);
          const otherCommand = { ...req, command: Command.OFFICERS_SET, request: h.officersRequest(1, [officers[1]]) };
          const mixed = {
            challenge: req.challenge,
            approvals: [...approve(req, [[0, officers[0].privateKey]]), ...approve(otherCommand, [[1, officers[1].privateKey]])],
          };
          expect(
            await refusedWith(timed(times, 'RESET (1 approval for another command)', () => h.reset(mixed))),
            'RESET with an approval for OFFICERS_SET',
          ).toBe('APPROVAL_INVALID');
          await unchanged('RESET with an approval for another command');

          // docs/quorum.md §3: M approvals loosen a policy (sensitive true → false), which the user alone cannot
          await timed(times, 'LOGIN user (officers)', () => h.login('user', USER_PIN)).catch(failWith);
          const loosen = { sensitive: false };
          const policyReq = await h.approvalRequest(Command.KEY_SET_POLICY, h.keySetPolicyRequest(k.keyId, loosen)).catch(failWith);
          const used = {
            challenge: policyReq.challenge,
            approvals: approve(policyReq, [
              [1, officers[1].privateKey],
              [2, officers[2].privateKey],
            ]),
          };
          const loosened = await timed(times, 'KEY_SET_POLICY loosen (2 approvals)', () => h.keySetPolicy(k.keyId, loosen, undefined, used)).catch(failWith);
          expect(loosened.sensitive, 'loosened with 2 approvals').toBe(false);
          // tightened back by the user alone, then the used approvals replayed: the challenge is spent
          expect((await h.keySetPolicy(k.keyId, { sensitive: true }).catch(failWith)).sensitive).toBe(true);
          expect(await refusedWith(h.keySetPolicy(k.keyId, loosen, undefined, used)), 'replayed approvals').toBe('APPROVAL_INVALID');
          await unchanged('replayed approvals');
          expect((await h.publicKey(k.keyId).catch(failWith)).sensitive, 'the replay changed nothing').toBe(true);

          // docs/quorum.md §8–§9: the domain and a backup, where this board's build carries them (INFO withoutDomain)
          const exportable = await timed(times, 'KEY_GENERATE ed25519 (export-under-wrap)', () =>
            h.generateKey('ed25519', 'exportable', { capabilities: ['sign', 'export-under-wrap'] }),
          ).catch(failWith);
          await h.logout().catch(failWith);
          await h.login('so', SO_PIN).catch(failWith);
          if ((await h.info().catch(failWith)).withoutDomain) {
            expect(await refusedWith(h.domainCreate()), 'DOMAIN_CREATE where the build leaves it out').toBe('INVALID_COMMAND');
          } else {
            const dom = await timed(times, 'DOMAIN_CREATE (3 officers)', () => h.domainCreate()).catch(failWith);
            const shares = dom.shares.map((sealed, i) => openShare(sealed, officers[i].privateKey, dom.domainId));
            expect(
              shares.map((x) => x && x.index),
              'each officer opens its own share (node:crypto)',
            ).toEqual([1, 2, 3]);
            const plain = shares as { index: number; share: Uint8Array }[];
            expect(domainIdOf(combineShares([plain[0], plain[2]])), 'two shares rebuild the domain').toEqual(dom.domainId);
            expect((await h.info().catch(failWith)).domainId).toEqual(dom.domainId);
            const both = (r: ApprovalRequest) => ({
              challenge: r.challenge,
              approvals: approve(r, [
                [0, officers[0].privateKey],
                [1, officers[1].privateKey],
              ]),
            });
            const ids = [exportable.keyId];
            req = await h.approvalRequest(Command.BACKUP_EXPORT, { keyIds: ids }).catch(failWith);
            const blob = await timed(times, 'BACKUP_EXPORT (1 key, 2 approvals)', () => h.backupExport(ids, both(req))).catch(failWith);
            // the blob opens and parses on this device: the one key is still here, so the restore is refused whole
            req = await h.approvalRequest(Command.BACKUP_IMPORT, { blob }).catch(failWith);
            expect(await refusedWith(timed(times, 'BACKUP_IMPORT (key id taken)', () => h.backupImport(blob, both(req)))), 'restore over a key').toBe(
              'INVALID_PARAMETER',
            );
          }

          // docs/quorum.md §4: officers 0 and 2 approve RESET in a session with no login; the device is factory-new, without officers
          await h.logout().catch(failWith);
          req = await h.approvalRequest(Command.RESET, {}).catch(failWith);
          const approved = {
            challenge: req.challenge,
            approvals: approve(req, [
              [0, officers[0].privateKey],
              [2, officers[2].privateKey],
            ]),
          };
          await timed(times, 'RESET (2 approvals)', () => h.reset(approved)).catch(failWith);
          const after = await h.info().catch(failWith);
          expect(after.initialized, 'factory-new after RESET').toBe(false);
          expect(after.threshold, 'no threshold after RESET').toBeUndefined();
          expect(after.officers, 'no officers after RESET').toBeUndefined();
          expect(after.domainId, 'no domain after RESET').toBeUndefined();
        },
        stepMs,
      );
    }

    it(
      `peak heap within the budget (${exp.budgetWhy})`,
      async () => {
        await powerOff();
        expect(runs.length).toBeGreaterThan(0);
        for (const r of runs) {
          expect(r.peak, `${r.engine}: peak ${r.peak} ${r.unit} over the budget of ${exp.peakBudget} (${exp.budgetWhy})`).toBeLessThanOrEqual(exp.peakBudget);
        }
      },
      stepMs,
    );
  });
}
