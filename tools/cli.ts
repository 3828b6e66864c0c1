// The tinyhsm command-line interface: one subcommand per device operation, `--json` for machines, errors a person can act on.
import { parseArgs } from 'node:util';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { ALG_NAMES, Alg, STATUS_HINTS, algId, fromHex, toHex, nameOf, Origin } from '../firmware/protocol/index.ts';
import { HsmClient, HsmError, type PinState } from '../host/index.ts';
import { publicKeyToPem, publicKeyToSpkiDer, publicKeyToSsh } from '../host/pubkey-format.ts';
import { runSimCommand } from '../sim/main.ts';

const USAGE = `usage: tinyhsm <command> [options]

commands:
  sim [--pty | --socket PATH] [--json] [--seed HEX] [--flash FILE] [--power-cut-after N]
                                                      run a simulated token (keys persist in FILE)
  demo                                                start a simulator on a pty, make keys, sign, verify with OpenSSL
  info                                                firmware, device id, algorithms, slots
  keygen --alg ALG [--label L]                        generate a key pair on the device
  import --alg ALG --private HEX [--label L]          store a private key made elsewhere
  list                                                list keys
  pubkey --key ID [--format hex|pem|ssh]              print a public key
  sign --key ID (--data HEX | --in FILE) [--digest]   sign (Ed25519: message; ECDSA: SHA-256 of it, or a 32-byte digest)
  ecdh --key ID --peer HEX                            shared secret with a peer public key
  random N                                            N random bytes from the device
  delete --key ID                                     delete a key
  devices                                             find boards on serial ports

options:
  --device PATH   a serial port or pty path, a unix socket path, or "sim" (in-process); default $HSM_DEVICE, else discovery
  --trust         pin a device this host has not seen yet (trust on first use); never accepts a changed identity
  --json          print exactly one JSON object on stdout (bytes as hex)

Every command but info opens a secure session that the device signs with its identity key; the key is pinned
in $HSM_KNOWN_DEVICES, else $XDG_CONFIG_HOME/tinyhsm/known-devices.json, else ~/.config/tinyhsm/known-devices.json.
algorithms: ${Object.values(ALG_NAMES).join(', ')}`;

/** A usage mistake: exit code 2 with a message that says what to type instead. */
class UsageError extends Error {}

const OPTIONS = {
  device: { type: 'string' },
  json: { type: 'boolean' },
  trust: { type: 'boolean' },
  alg: { type: 'string' },
  label: { type: 'string' },
  private: { type: 'string' },
  key: { type: 'string' },
  format: { type: 'string' },
  data: { type: 'string' },
  in: { type: 'string' },
  digest: { type: 'boolean' },
  peer: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Opts = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

function needHex(value: string | undefined, flag: string): Uint8Array {
  if (value === undefined) throw new UsageError(`--${flag} HEX is required`);
  const b = fromHex(value.replace(/^0x/, ''));
  if (!b) throw new UsageError(`--${flag} must be hex (an even number of 0-9a-f characters)`);
  return b;
}

function needKeyId(value: string | undefined): number {
  if (value === undefined) throw new UsageError('--key ID is required (see `tinyhsm list`)');
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 0xffff) throw new UsageError(`--key must be a key id from 1 to 65535, got "${value}"`);
  return n;
}

function needAlg(value: string | undefined): number {
  const names = Object.values(ALG_NAMES).join(', ');
  if (value === undefined) throw new UsageError(`--alg is required: one of ${names}`);
  const id = algId(value);
  if (id === undefined) throw new UsageError(`unknown algorithm "${value}": use one of ${names}`);
  return id;
}

function algName(id: number): string {
  return ALG_NAMES[id] || String(id);
}

async function withClient<T>(opts: Opts, fn: (c: HsmClient) => Promise<T>): Promise<T> {
  const client = await HsmClient.open(opts.device, { trust: opts.trust === true });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** The `info` line on identity pinning (docs/session.md §9). */
function pinText(pin: PinState | undefined): string {
  if (!pin) return 'no (the device has no identity key, so no secure session)';
  if (pin.state === 'in-memory') return 'not needed: an in-process simulator this command started';
  if (pin.state === 'pinned') return `yes, since ${pin.entry!.firstSeen} (${pin.path})`;
  if (pin.state === 'not-pinned') return `no: run a command with --trust to pin it (saved in ${pin.path})`;
  return `IDENTITY CHANGED: ${pin.path} has ${pin.entry!.identityKey} since ${pin.entry!.firstSeen}; commands are refused (see docs/session.md §9)`;
}

/** Run one subcommand; returns the JSON object to print and the human text. */
async function run(cmd: string, positionals: string[], opts: Opts): Promise<{ json: object; text: string }> {
  switch (cmd) {
    case 'info':
      return withClient(opts, async (c) => {
        const i = await c.info();
        // INFO travels in the clear: show whether this host would accept the device, without pinning it
        const pin = i.identityPublicKey ? c.pinState(i.deviceId, i.identityPublicKey) : undefined;
        const failures: { [name: string]: string } = {};
        for (const k in i.selftestFailures || {}) failures[algName(Number(k))] = (i.selftestFailures as { [k: number]: string })[Number(k)];
        const json = {
          deviceId: toHex(i.deviceId),
          firmwareVersion: i.firmwareVersion,
          protocolVersion: i.protocolVersion,
          platform: i.platform,
          maxPacket: i.maxPacket,
          algorithms: i.algorithms.map(algName),
          selftestFailures: failures,
          slotsUsed: i.slotsUsed,
          slotsFree: i.slotsFree,
          identityPublicKey: i.identityPublicKey ? toHex(i.identityPublicKey) : null,
          pinned: pin ? pin.state : null,
          knownDevices: pin && pin.path ? pin.path : null,
          flash: {
            pageSize: i.flashPageSize,
            pages: i.flashPages,
            bytesUsed: i.flashBytesUsed,
            bytesFree: i.flashBytesFree,
            eraseCounts: i.flashEraseCounts,
            volatile: i.flashVolatile === true,
          },
        };
        const lines = [
          `device id     ${json.deviceId}`,
          `firmware      ${json.firmwareVersion} (protocol ${json.protocolVersion}, ${json.platform})`,
          `algorithms    ${json.algorithms.join(', ') || '(none passed self-test)'}`,
          ...Object.entries(failures).map(([a, why]) => `not offered   ${a}: ${why}`),
          `identity      ${json.identityPublicKey || '(none yet: Ed25519 is not offered)'}`,
          `pinned        ${pinText(pin)}`,
          `key slots     ${json.slotsUsed} used, ${json.slotsFree} free`,
          `flash         ${json.flash.pages} pages of ${json.flash.pageSize} bytes, ${json.flash.bytesUsed} used, about ${json.flash.bytesFree} free, erases ${Math.min(...json.flash.eraseCounts)}..${Math.max(...json.flash.eraseCounts)} per page${json.flash.volatile ? ' (RAM only: lost at power-off)' : ''}`,
          `max packet    ${json.maxPacket} bytes`,
        ];
        return { json, text: lines.join('\n') };
      });
    case 'keygen':
    case 'import': {
      const alg = needAlg(opts.alg);
      const priv = cmd === 'import' ? needHex(opts.private, 'private') : undefined;
      return withClient(opts, async (c) => {
        const r = priv ? await c.importKey(algName(alg), priv, opts.label) : await c.generateKey(algName(alg), opts.label);
        const json = { id: r.keyId, alg: algName(alg), publicKey: toHex(r.publicKey) };
        return { json, text: `key ${r.keyId} (${json.alg}) ${json.publicKey}` };
      });
    }
    case 'list':
      return withClient(opts, async (c) => {
        const keys = (await c.listKeys()).map((k) => ({
          id: k.keyId,
          alg: algName(k.alg),
          label: k.label,
          origin: String(nameOf(Origin, k.origin) || k.origin).toLowerCase(),
          publicKey: toHex(k.publicKey),
        }));
        const text = keys.length ? keys.map((k) => `${String(k.id).padStart(5)}  ${k.alg.padEnd(16)} ${k.origin.padEnd(9)} ${k.label ? JSON.stringify(k.label) + ' ' : ''}${k.publicKey}`).join('\n') : '(no keys)';
        return { json: { keys }, text };
      });
    case 'pubkey': {
      const keyId = needKeyId(opts.key);
      const format = opts.format || 'hex';
      if (!['hex', 'pem', 'ssh'].includes(format)) throw new UsageError(`--format must be hex, pem or ssh, got "${format}"`);
      return withClient(opts, async (c) => {
        const { alg, publicKey } = await c.publicKey(keyId);
        const json: { [k: string]: string | number } = { id: keyId, alg: algName(alg), publicKey: toHex(publicKey) };
        let text = json.publicKey as string;
        try {
          if (format === 'pem') text = json.pem = publicKeyToPem(alg, publicKey).trimEnd();
          if (format === 'ssh') text = json.ssh = publicKeyToSsh(alg, publicKey, `tinyhsm-key-${keyId}`);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
        return { json, text };
      });
    }
    case 'sign': {
      const keyId = needKeyId(opts.key);
      if ((opts.data === undefined) === (opts.in === undefined)) throw new UsageError('give exactly one of --data HEX and --in FILE');
      const data = opts.data !== undefined ? needHex(opts.data, 'data') : new Uint8Array(readFileSync(opts.in as string));
      return withClient(opts, async (c) => {
        const signature = await c.sign(keyId, opts.digest ? { digest: data } : { message: data });
        return { json: { id: keyId, signature: toHex(signature) }, text: toHex(signature) };
      });
    }
    case 'ecdh': {
      const keyId = needKeyId(opts.key);
      const peer = needHex(opts.peer, 'peer');
      return withClient(opts, async (c) => {
        const s = await c.ecdh(keyId, peer);
        return { json: { id: keyId, sharedSecret: toHex(s) }, text: toHex(s) };
      });
    }
    case 'random': {
      const n = Number(positionals[0]);
      if (!Number.isInteger(n) || n < 1 || n > 1024) throw new UsageError('usage: tinyhsm random N (N from 1 to 1024)');
      return withClient(opts, async (c) => {
        const r = await c.random(n);
        return { json: { random: toHex(r) }, text: toHex(r) };
      });
    }
    case 'delete': {
      const keyId = needKeyId(opts.key);
      return withClient(opts, async (c) => {
        await c.deleteKey(keyId);
        return { json: { deleted: keyId }, text: `deleted key ${keyId}` };
      });
    }
    case 'devices': {
      const { discoverDevices } = await import('../host/discovery.ts');
      const found = await discoverDevices();
      const json = { devices: found };
      return { json, text: found.length ? found.map((d: { path: string }) => d.path).join('\n') : 'no tinyhsm found on serial ports' };
    }
    case 'demo':
      return demo(opts);
    default:
      throw new UsageError(`unknown command "${cmd}"\n\n${USAGE}`);
  }
}

/** Start `tinyhsm sim --pty --json` as a child process and return the pty path it prints first. */
async function startPtySimulator(): Promise<{ path: string; stop: () => Promise<void> }> {
  const self = process.argv[1];
  const child = spawn(process.execPath, [self, 'sim', '--pty', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the simulator exited (${code}) before printing its pty`)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return { path: JSON.parse(first).pty, stop };
}

/** Verify with the real OpenSSL program when it is installed (Ed25519: pkeyutl -rawin; ECDSA: dgst on a DER signature). */
function opensslVerify(alg: number, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-demo-'));
  try {
    const file = (name: string, data: string | Uint8Array) => (writeFileSync(join(dir, name), data), join(dir, name));
    const pem = file('key.pem', publicKeyToPem(alg, publicKey));
    const msg = file('msg', message);
    const args =
      alg === Alg.ED25519
        ? ['pkeyutl', '-verify', '-pubin', '-inkey', pem, '-rawin', '-in', msg, '-sigfile', file('sig', signature)]
        : ['dgst', '-sha256', '-verify', pem, '-signature', file('sig', rawSignatureToDer(signature)), msg];
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.error) return undefined; // no openssl on this machine
    return r.status === 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Raw r‖s to the DER ECDSA-Sig-Value OpenSSL reads (RFC 3279 §2.2.3). */
function rawSignatureToDer(sig: Uint8Array): Uint8Array {
  const int = (b: Uint8Array) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const v = b[i] & 0x80 ? Buffer.concat([Buffer.of(0), b.subarray(i)]) : Buffer.from(b.subarray(i));
    return Buffer.concat([Buffer.of(0x02, v.length), v]);
  };
  const body = Buffer.concat([int(sig.subarray(0, 32)), int(sig.subarray(32))]);
  return Buffer.concat([Buffer.of(0x30, body.length), body]);
}

/**
 * The README's end-to-end demo: a simulated token on a real pty (unless --device names one), keys made on
 * it, signatures checked by node:crypto and by the openssl program.
 */
async function demo(opts: Opts): Promise<{ json: object; text: string }> {
  const named = opts.device || process.env.HSM_DEVICE;
  const sim = named ? undefined : await startPtySimulator();
  const device = named || (sim as { path: string }).path;
  const lines: string[] = [sim ? `started a simulated token on ${device} (tinyhsm sim --pty)` : `device: ${device}`];
  const results: object[] = [];
  try {
    // The simulator this demo started is pinned in memory only (it is thrown away at the end, so a file entry
    // would be litter); the handshake is still verified. A device named with --device goes through the file.
    const client = await HsmClient.open(device, sim ? { knownDevices: null } : { trust: opts.trust === true });
    try {
      const info = await client.info();
      lines.push(`device id ${toHex(info.deviceId)}; algorithms that passed self-test: ${info.algorithms.map(algName).join(', ')}`);
      const message = new TextEncoder().encode('tinyhsm demo: signed inside the token');
      for (const alg of [Alg.ED25519, Alg.ECDSA_P256]) {
        const { keyId, publicKey } = await client.generateKey(algName(alg), 'demo');
        const signature = await client.sign(keyId, { message });
        const spki = createPublicKey({ key: Buffer.from(publicKeyToSpkiDer(alg, publicKey)), format: 'der', type: 'spki' });
        const byNode =
          alg === Alg.ED25519
            ? nodeVerify(null, message, spki, signature)
            : nodeVerify('sha256', message, { key: spki, dsaEncoding: 'ieee-p1363' }, signature);
        const byOpenssl = opensslVerify(alg, publicKey, message, signature);
        const said = (v: boolean | undefined) => (v === undefined ? 'not installed' : v ? 'verified' : 'REJECTED');
        lines.push(`${algName(alg).padEnd(11)} key ${keyId}: signature ${toHex(signature).slice(0, 24)}…  node:crypto ${said(byNode)}, openssl ${said(byOpenssl)}`);
        results.push({ alg: algName(alg), id: keyId, publicKey: toHex(publicKey), signature: toHex(signature), verifiedByNode: byNode, verifiedByOpenssl: byOpenssl });
        if (!byNode || byOpenssl === false) throw new Error(`the ${algName(alg)} signature did not verify`);
        await client.deleteKey(keyId);
      }
    } finally {
      await client.close();
    }
  } finally {
    if (sim) await sim.stop();
  }
  lines.push('private keys never left the token; the demo keys were deleted again');
  return { json: { device, results }, text: lines.join('\n') };
}

function explain(e: unknown): { json: object; text: string; code: number } {
  if (e instanceof UsageError) return { json: { error: { status: 'USAGE', message: e.message } }, text: e.message, code: 2 };
  if (e instanceof HsmError) {
    const he = e as HsmError & { statusName?: string; status?: number | string };
    const name = he.statusName || String(he.status);
    const hint = e.hint || (STATUS_HINTS as { [k: string]: string })[name] || undefined;
    return { json: { error: { status: name, message: e.message, hint } }, text: e.message, code: 1 };
  }
  const msg = e instanceof Error ? e.message : String(e);
  return { json: { error: { status: 'ERROR', message: msg } }, text: msg, code: 1 };
}

/** Entry point: returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const cmd = argv[0];
  if (cmd === 'sim') return (await runSimCommand(argv.slice(1))) ?? 0;
  let parsed;
  try {
    parsed = parseArgs({ args: argv.slice(1), options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`tinyhsm: ${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const opts = parsed.values as Opts;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h' || opts.help) {
    process.stdout.write(USAGE + '\n');
    return cmd ? 0 : 2;
  }
  try {
    const { json, text } = await run(cmd, parsed.positionals, opts);
    process.stdout.write((opts.json ? JSON.stringify(json) : text) + '\n');
    return 0;
  } catch (e) {
    const { json, text, code } = explain(e);
    process.stderr.write(opts.json ? JSON.stringify(json) + '\n' : `tinyhsm ${cmd}: ${text}\n`);
    return code;
  }
}

// Run when this file is the program itself (`node dist/cli.js …`); bin/tinyhsm.js imports it and calls main.
if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
