// `npm run bench`: signing speed end to end through the device (noble and fast simulators, in-process and over a real pty) against SoftHSM2, node:crypto and raw noble, in one run.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { HsmClient } from '../host/index.ts';
import { openSoftHsm, type SoftHsmToken } from './bench-softhsm.ts';

// The machine's speed drifts (a shared VM, a second core busy with the pty simulator): so the cases run
// interleaved in short slices, round after round, and each ratio is the median of per-round ratios.
const ROUNDS = Number(process.env.BENCH_ROUNDS || 15);
const SLICE_MS = Number(process.env.BENCH_SLICE_MS || 200);
// Each case runs this long before it is measured: the pty simulators' JIT (the device bundle in its vm context) needs
// about 3,000 requests to settle (measured: 1.3 ms a signature at first, 0.33 ms after), and with a short warm-up the
// first algorithm measured paid for it.
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS || 2500);
const message = new Uint8Array(100).map((_, i) => i);
const edSeed = new Uint8Array(32).fill(7);
const p256Key = new Uint8Array(32).fill(9);

type Op = () => unknown;

/** Operations per second of `op` over one slice. */
async function slice(op: Op): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  const end = t0 + SLICE_MS;
  while (performance.now() < end) {
    await op();
    n++;
  }
  return (n * 1000) / (performance.now() - t0);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function startPtySim(fast: boolean): Promise<{ child: ChildProcess; path: string }> {
  const cli = fileURLToPath(new URL('../bin/tinyhsm.js', import.meta.url));
  const child = spawn(process.execPath, [cli, 'sim', '--pty', '--json', ...(fast ? ['--fast'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error('simulator exited with ' + code)));
  });
  rl.close();
  return { child, path: JSON.parse(first).pty };
}

/** The cases of the table, in its row order. */
const CASES = ['node', 'noble', 'softhsm', 'fast_inprocess', 'fast_pty', 'noble_inprocess', 'noble_pty'] as const;
type Case = (typeof CASES)[number];
const LABELS: Record<Case, string> = {
  node: 'node:crypto alone',
  noble: 'noble alone',
  softhsm: 'SoftHSM2 token key',
  fast_inprocess: 'tinyhsm --fast, in-process',
  fast_pty: 'tinyhsm --fast, pty',
  noble_inprocess: 'tinyhsm (noble), in-process',
  noble_pty: 'tinyhsm (noble), pty',
};

/** One algorithm's cases, interleaved slice by slice, round after round; each ratio to SoftHSM2 is the median of per-round ratios. */
async function measure(ops: Partial<Record<Case, Op>>) {
  const present = CASES.filter((c) => ops[c] !== undefined);
  const runs: Partial<Record<Case, number[]>> = {};
  for (const c of present) {
    runs[c] = [];
    const until = performance.now() + WARMUP_MS;
    for (let i = 0; i < 20 || performance.now() < until; i++) await ops[c]!();
  }
  for (let r = 0; r < ROUNDS; r++) for (const c of present) runs[c]!.push(await slice(ops[c]!));
  const ops_per_s: Partial<Record<Case, number>> = {};
  for (const c of present) ops_per_s[c] = Math.round(median(runs[c]!));
  const ratio = (c: Case) => {
    const base = runs.softhsm;
    if (!base || !runs[c]) return undefined;
    return Math.round(median(runs[c]!.map((x, i) => x / base[i])) * 100) / 100;
  };
  return {
    ops_per_s,
    vs_softhsm: {
      fast_inprocess: ratio('fast_inprocess'),
      fast_pty: ratio('fast_pty'),
      noble_inprocess: ratio('noble_inprocess'),
      noble_pty: ratio('noble_pty'),
    },
  };
}

// PINs of the bench's own throwaway simulators (never a real device's)
const BENCH_USER_PIN = 'bench-user-pin';
const BENCH_SO_PIN = 'bench-so-pin';

/** A fresh simulator is factory-new: set its PINs, import the keys as SO (KEY_IMPORT needs it), sign as user. */
async function benchKeys(c: HsmClient): Promise<{ ed: number; ec: number }> {
  await c.init({ userPin: BENCH_USER_PIN, soPin: BENCH_SO_PIN, label: 'bench' });
  await c.login('so', BENCH_SO_PIN);
  const ids = {
    ed: (await c.importKey('ed25519', edSeed, 'bench')).keyId,
    ec: (await c.importKey('ecdsa-p256', p256Key, 'bench')).keyId,
  };
  await c.login('user', BENCH_USER_PIN);
  return ids;
}

/** Every path must give signatures OpenSSL accepts before it is timed: a fast wrong answer is no answer. */
function checkSignature(what: string, alg: 'ed25519' | 'p256', publicKey: KeyObject, sig: Uint8Array): void {
  const ok = alg === 'ed25519' ? nodeVerify(null, message, publicKey, sig) : nodeVerify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig);
  if (!ok) throw new Error(`${what}: its ${alg} signature does not verify with node:crypto`);
}

function pkcs8(prefix: string, raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([Buffer.from(prefix, 'hex'), raw]), format: 'der', type: 'pkcs8' });
}

async function main() {
  const json = process.argv.includes('--json');
  const soft = openSoftHsm();
  const token: SoftHsmToken | undefined = 'token' in soft ? soft.token : undefined;
  if (!token) process.stderr.write(`bench: SoftHSM2 rows skipped: ${(soft as { skipped: string }).skipped}\n`);
  const nobleIn = await HsmClient.open('sim');
  const fastIn = await HsmClient.open('sim', { simFast: true });
  const ptys: ChildProcess[] = [];
  const clients: HsmClient[] = [nobleIn, fastIn];
  try {
    const open = async (fast: boolean) => {
      const { child, path } = await startPtySim(fast);
      ptys.push(child);
      // the simulator this bench started: pinned in memory only (no entry in the user's known-devices file), still verified
      const c = await HsmClient.open(path, { knownDevices: null });
      clients.push(c);
      return c;
    };
    const noblePty = await open(false);
    const fastPty = await open(true);
    if ((await fastIn.info()).platform !== 'node-sim-fast' || (await fastPty.info()).platform !== 'node-sim-fast')
      throw new Error('the --fast simulators do not report platform node-sim-fast');
    const devices = { noble_inprocess: nobleIn, noble_pty: noblePty, fast_inprocess: fastIn, fast_pty: fastPty };
    const keys = new Map<HsmClient, { ed: number; ec: number }>();
    for (const c of Object.values(devices)) keys.set(c, await benchKeys(c));

    const edKey = pkcs8('302e020100300506032b657004220420', edSeed);
    const ecKey = pkcs8('3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420', p256Key);
    const edPub = createPublicKey(edKey);
    const ecPub = createPublicKey(ecKey);
    const edOps: Partial<Record<Case, Op>> = {
      node: () => nodeSign(null, message, edKey),
      noble: () => ed25519.sign(message, edSeed),
    };
    const ecOps: Partial<Record<Case, Op>> = {
      node: () => nodeSign('sha256', message, { key: ecKey, dsaEncoding: 'ieee-p1363' }),
      noble: () => p256.sign(message, p256Key),
    };
    for (const [name, c] of Object.entries(devices) as [Case, HsmClient][]) {
      const k = keys.get(c)!;
      checkSignature(LABELS[name], 'ed25519', edPub, await c.sign(k.ed, { message }));
      checkSignature(LABELS[name], 'p256', ecPub, await c.sign(k.ec, { message }));
      edOps[name] = () => c.sign(k.ed, { message });
      ecOps[name] = () => c.sign(k.ec, { message });
    }
    if (token) {
      const sha = () => createHash('sha256').update(message).digest();
      checkSignature(LABELS.softhsm, 'ed25519', rawEd25519Public(token.ed25519Public), token.signEd25519(message));
      checkSignature(LABELS.softhsm, 'p256', sec1P256Public(token.p256Public), token.signP256(sha()));
      edOps.softhsm = () => token.signEd25519(message);
      ecOps.softhsm = () => token.signP256(sha());
    }
    const ed = await measure(edOps);
    const ec = await measure(ecOps);
    const targets = [
      { what: 'Ed25519 fast in-process', ratio: ed.vs_softhsm.fast_inprocess, target: 2 },
      { what: 'P-256 fast in-process', ratio: ec.vs_softhsm.fast_inprocess, target: 1 },
      { what: 'Ed25519 fast pty', ratio: ed.vs_softhsm.fast_pty, target: 1 },
    ];
    const result = {
      rounds: ROUNDS,
      slice_ms: SLICE_MS,
      softhsm: token ? token.version : null,
      ed25519: ed,
      p256: ec,
      targets: targets.map((t) => ({ ...t, met: t.ratio === undefined ? null : t.ratio >= t.target })),
      note: 'sign ops/s of a 100-byte message; ratios are to SoftHSM2 token keys, medians of per-round ratios',
    };
    if (json) process.stdout.write(JSON.stringify(result) + '\n');
    else {
      const f = (x: number | undefined, w = 9) => (x === undefined ? '-' : x.toLocaleString('en-US')).padStart(w);
      console.log(`sign ops/s, median of ${ROUNDS} interleaved ${SLICE_MS} ms slices, 100-byte message${token ? `, ${token.version}` : ''}`);
      console.log(`${''.padEnd(30)}  ed25519    p256   ed25519÷SoftHSM2  p256÷SoftHSM2`);
      for (const c of CASES) {
        const r = (m: typeof ed) => (c in m.vs_softhsm ? (m.vs_softhsm as Record<string, number | undefined>)[c] : undefined);
        const ratios = c === 'softhsm' ? ['1', '1'] : [r(ed), r(ec)].map((x) => (x === undefined ? '' : String(x)));
        console.log(`${LABELS[c].padEnd(30)}${f(ed.ops_per_s[c])}${f(ec.ops_per_s[c], 8)}   ${ratios[0].padStart(16)}  ${ratios[1].padStart(13)}`);
      }
      for (const t of targets)
        console.log(
          `target ${t.what} ≥ ${t.target}× SoftHSM2: ${t.ratio === undefined ? 'not measured (no SoftHSM2)' : `${t.ratio}× ${t.ratio >= t.target ? 'met' : 'NOT met'}`}`,
        );
    }
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    for (const child of ptys) child.kill('SIGTERM');
    if (token) token.close();
  }
}

function rawEd25519Public(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });
}

function sec1P256Public(raw: Uint8Array): KeyObject {
  return createPublicKey({
    key: Buffer.concat([Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'), raw]),
    format: 'der',
    type: 'spki',
  });
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error('bench failed:', e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
