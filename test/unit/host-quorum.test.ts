// The driver's officer API on an in-process simulator (docs/quorum.md): init with officers, approvalRequest + signApproval, loosening and RESET; after a RESET the client holds no role and no PIN.
import { describe, it, expect } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { Command } from '../../firmware/protocol/index.ts';
import { SimFlash } from '../../sim/flash.ts';
import { HsmClient } from '../../host/client.ts';
import { officerPublicKey, signApproval, type ApprovalRequest } from '../../host/approvals.ts';
import { SIM_SO_PIN, SIM_USER_PIN, inProcessSims } from '../helpers/sim.ts';
import { hsmFailure } from '../helpers/hsm-error.ts';

const sims = inProcessSims();
const keys = [0, 1, 2].map(() => generateKeyPairSync('ed25519').privateKey);
const officers = keys.map((k, i) => ({ publicKey: officerPublicKey(k), label: 'o' + i }));
const approve = (req: ApprovalRequest, who: number[]) => ({ challenge: req.challenge, approvals: who.map((i) => signApproval(req, i, keys[i])) });
const kept = (c: HsmClient) => (c as unknown as { keeper: { kept?: { pin: Uint8Array } } }).keeper.kept;

describe('HsmClient and officers', () => {
  it('init with officers, loosen with two approvals, reset with two approvals: the client drops its role and PIN', async () => {
    const sim = await sims.boot({ flash: SimFlash.memory({ pages: 16 }) }, false);
    const c = sims.client(sim);
    await c.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN, officers: { threshold: 2, officers } });
    const i = await c.info();
    expect([i.threshold, i.officers!.map((o) => o.label)]).toEqual([2, ['o0', 'o1', 'o2']]);
    await c.login('user', SIM_USER_PIN);
    const k = await c.generateKey('ed25519', 'k', { capabilities: ['sign'] });
    await c.keySetPolicy(k.keyId, { capabilities: 0 });
    expect((await hsmFailure(c.keySetPolicy(k.keyId, { capabilities: ['sign'] }))).code).toBe('APPROVAL_REQUIRED');
    const loosen = await c.approvalRequest(Command.KEY_SET_POLICY, c.keySetPolicyRequest(k.keyId, { capabilities: ['sign'] }));
    expect((await c.keySetPolicy(k.keyId, { capabilities: ['sign'] }, undefined, approve(loosen, [0, 2]))).capabilities).toBe(1);
    // the attestation statement says whether a key is protected (field 13, only when true)
    const pk = await c.generateKey('ed25519', 'p', { protected: true });
    expect([(await c.keyAttest(pk.keyId)).protected, (await c.keyAttest(k.keyId)).protected]).toEqual([true, undefined]);
    const one = await c.approvalRequest(Command.RESET, {});
    expect((await hsmFailure(c.reset(approve(one, [1])))).code).toBe('APPROVAL_REQUIRED');
    expect(kept(c)).toBeDefined();
    const two = await c.approvalRequest(Command.RESET, {});
    await c.reset(approve(two, [1, 2]));
    expect([c.role, kept(c)]).toEqual([undefined, undefined]);
    const after = await c.info();
    expect([after.initialized, after.threshold, after.officers]).toEqual([false, undefined, undefined]);
    // the same client initializes it again and works with the new PIN
    await c.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN });
    await c.login('user', SIM_USER_PIN);
    expect(await c.listKeys()).toEqual([]);
  });
});
