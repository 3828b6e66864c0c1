// HsmClient: one typed async method per command over any HostTransport; one request in flight, timeouts, retransmit with the same seq (DESIGN.md "Host").
import { randomInt } from 'node:crypto';
import { stat } from 'node:fs/promises';
import {
  ALG_NAMES,
  Command,
  FrameReader,
  FrameType,
  MESSAGES,
  PROTOCOL_VERSION,
  Status,
  algId,
  cborDecode,
  cborEncode,
  decodeMessage,
  encodeArmorLine,
  encodeFrame,
  encodeMessage,
  nameOf,
  type CborMap,
  type CborValue,
  type Frame,
  type InfoResponse,
  type KeyListEntry,
  type Message,
  type Schema,
} from '../firmware/protocol/index.ts';
import { HsmError } from './errors.ts';
import type { HostTransport } from './transports/types.ts';
import { SerialTransport } from './transports/serial.ts';
import { SocketTransport } from './transports/socket.ts';
import { InProcessTransport } from './transports/inprocess.ts';
import { discoverDevices } from './discovery.ts';

export interface ClientOptions {
  /** How long to wait for an answer before retransmitting (ms). Keepalive frames restart the wait. Default 5000. */
  timeoutMs?: number;
  /** How many times a timed-out request is sent again (same bytes, same seq). Default 2. */
  retries?: number;
  /** Largest packet this host accepts from the device. Default 65535 (INFO's maximum). */
  maxPacket?: number;
}

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  retries?: number;
}

export interface OpenOptions extends ClientOptions {
  /** Serial links: 'armor' for Kaluma boards. Also used for the in-process simulator. */
  linkMode?: 'binary' | 'armor';
  baudRate?: number;
  /** In-process simulator ('sim'): deterministic RNG seed (hex), bundle path, max packet. */
  seed?: string;
  bundlePath?: string;
  simMaxPacket?: number;
}

export interface KeyPair {
  keyId: number;
  publicKey: Uint8Array;
}

export type SignInput = { message: Uint8Array; digest?: undefined } | { digest: Uint8Array; message?: undefined };

/** An algorithm's host-facing name ('ed25519', …) from its wire id; the number as text if unknown. */
export function algName(id: number): string {
  return ALG_NAMES[id] || String(id);
}

/** Wire id of an algorithm given by name or id; throws a BAD_ARGUMENT HsmError for anything else. */
export function resolveAlg(alg: string | number): number {
  if (typeof alg === 'number') return alg;
  const id = algId(alg.toLowerCase());
  if (id === undefined) throw new HsmError('BAD_ARGUMENT', `unknown algorithm "${alg}": use one of ${Object.values(ALG_NAMES).join(', ')}`);
  return id;
}

interface Job {
  command: number;
  name: string;
  body: Uint8Array;
  schema: Schema | undefined;
  timeoutMs: number;
  retries: number;
  signal: AbortSignal | undefined;
  resolve: (m: Message) => void;
  reject: (e: HsmError) => void;
  onAbort?: () => void;
  // while in flight
  seq: number;
  frame: Uint8Array;
  attempts: number;
  timer?: NodeJS.Timeout;
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_RETRIES = 2;
const ASCII = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

export class HsmClient {
  readonly transport: HostTransport;
  private readonly opts: Required<Pick<ClientOptions, 'timeoutMs' | 'retries'>>;
  private readonly reader: FrameReader;
  private readonly queue: Job[] = [];
  private active: Job | undefined;
  private seq: number;
  private closed: HsmError | undefined;

  constructor(transport: HostTransport, opts: ClientOptions = {}) {
    this.transport = transport;
    this.opts = { timeoutMs: opts.timeoutMs || DEFAULT_TIMEOUT_MS, retries: opts.retries !== undefined ? opts.retries : DEFAULT_RETRIES };
    this.reader = new FrameReader(opts.maxPacket || 65535, transport.mode);
    // A random first sequence number: the device's one-entry reply cache must not take a new
    // client's first request for a retransmission of the previous client's last one.
    this.seq = randomInt(0, 0x10000);
    transport.onData((b) => this.receive(b));
    if (transport.onClose)
      transport.onClose((reason) => this.shutdown(new HsmError('CLOSED', `${this.where()} closed${reason ? ': ' + reason.message : ''}`, { cause: reason })));
  }

  /**
   * Connect to a device. `device` (else $HSM_DEVICE): 'sim' boots an in-process simulator; 'unix:PATH'
   * or a path that is a unix socket connects to `tinyhsm sim --socket`; 'armor:PATH' opens a serial port
   * in text-armor mode (Kaluma); any other path is a serial port or pty (raw binary, 115200 baud).
   * Nothing given: discovery picks the first serial port that answers INFO.
   */
  static async open(device?: string, opts: OpenOptions = {}): Promise<HsmClient> {
    const spec = device !== undefined && device !== '' ? device : process.env.HSM_DEVICE || undefined;
    return new HsmClient(await openTransport(spec, opts), opts);
  }

  // ---------------------------------------------------------------- commands

  info(opts?: CallOptions): Promise<InfoResponse> {
    return this.call(Command.INFO, {}, opts) as Promise<unknown> as Promise<InfoResponse>;
  }

  async echo(data: Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
    return (await this.call(Command.ECHO, { data }, opts)).data as Uint8Array;
  }

  async random(length: number, opts?: CallOptions): Promise<Uint8Array> {
    return (await this.call(Command.RANDOM, { length }, opts)).bytes as Uint8Array;
  }

  /** A key pair made inside the device; only the public key comes back. */
  async generateKey(alg: string | number, label?: string, opts?: CallOptions): Promise<KeyPair> {
    const r = await this.call(Command.KEY_GENERATE, { alg: resolveAlg(alg), label }, opts);
    return { keyId: r.keyId as number, publicKey: r.publicKey as Uint8Array };
  }

  /** Store a private key made elsewhere (marked imported for ever). The caller should wipe its copy. */
  async importKey(alg: string | number, privateKey: Uint8Array, label?: string, opts?: CallOptions): Promise<KeyPair> {
    const r = await this.call(Command.KEY_IMPORT, { alg: resolveAlg(alg), label, privateKey }, opts);
    return { keyId: r.keyId as number, publicKey: r.publicKey as Uint8Array };
  }

  /** Every key; `alg` is the wire id (algName() gives its name). */
  async listKeys(opts?: CallOptions): Promise<KeyListEntry[]> {
    return (await this.call(Command.KEY_LIST, {}, opts)).keys as KeyListEntry[];
  }

  async publicKey(keyId: number, opts?: CallOptions): Promise<{ alg: number; publicKey: Uint8Array }> {
    const r = await this.call(Command.KEY_PUBLIC, { keyId }, opts);
    return { alg: r.alg as number, publicKey: r.publicKey as Uint8Array };
  }

  async deleteKey(keyId: number, opts?: CallOptions): Promise<void> {
    await this.call(Command.KEY_DELETE, { keyId }, opts);
  }

  /** Ed25519: over the whole message. ECDSA: over SHA-256(message), or over a 32-byte digest; raw r‖s, low-S. */
  async sign(keyId: number, input: SignInput, opts?: CallOptions): Promise<Uint8Array> {
    const r = await this.call(Command.SIGN, { keyId, message: input.message, digest: input.digest }, opts);
    return r.signature as Uint8Array;
  }

  /** Shared secret between a device key (x25519 or ecdsa-p256) and a peer public key. */
  async ecdh(keyId: number, peerPublicKey: Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
    return (await this.call(Command.ECDH, { keyId, publicKey: peerPublicKey }, opts)).sharedSecret as Uint8Array;
  }

  /**
   * Any command. `request` holds the fields by name and is encoded with the command's schema from
   * firmware/protocol/messages (a Map is sent as the raw CBOR map instead). Resolves with the decoded
   * response; rejects with an HsmError.
   */
  call(command: number | keyof typeof Command, request: object = {}, opts: CallOptions = {}): Promise<Message> {
    return new Promise<Message>((resolve, reject) => {
      const code = typeof command === 'number' ? command : Command[command];
      if (code === undefined || !Number.isInteger(code) || code < 0 || code > 255)
        return reject(new HsmError('BAD_ARGUMENT', `unknown command ${String(command)}`));
      const name = String(nameOf(Command, code) || `command 0x${code.toString(16)}`);
      if (this.closed) return reject(this.closed);
      const pair = MESSAGES[code];
      let map: CborValue;
      let payload: Uint8Array;
      try {
        map = request instanceof Map ? (request as CborMap) : pair ? encodeMessage(pair.request, request) : new Map();
        payload = cborEncode(map);
      } catch (e) {
        return reject(new HsmError('BAD_ARGUMENT', `${name}: the request cannot be encoded: ${(e as Error).message}`, { command: name }));
      }
      const body = new Uint8Array(1 + payload.length);
      body[0] = code;
      body.set(payload, 1);
      const job: Job = {
        command: code,
        name,
        body,
        schema: pair ? pair.response : undefined,
        timeoutMs: opts.timeoutMs || this.opts.timeoutMs,
        retries: opts.retries !== undefined ? opts.retries : this.opts.retries,
        signal: opts.signal,
        resolve,
        reject,
        seq: 0,
        frame: new Uint8Array(0),
        attempts: 0,
      };
      if (job.signal) {
        if (job.signal.aborted) return reject(aborted(job));
        job.onAbort = () => this.abort(job);
        job.signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.queue.push(job);
      this.pump();
    });
  }

  /** Fail whatever is waiting and close the link. */
  async close(): Promise<void> {
    this.shutdown(new HsmError('CLOSED', 'the client was closed', { hint: 'open a new HsmClient' }));
    await this.transport.close();
  }

  // ---------------------------------------------------------------- the exchange

  private where(): string {
    return this.transport.description || 'the link';
  }

  private pump(): void {
    if (this.active || this.closed) return;
    const job = this.queue.shift();
    if (!job) return;
    this.active = job;
    this.seq = (this.seq + 1) & 0xffff;
    job.seq = this.seq;
    // A leading delimiter ends any half frame the device's reader holds (a previous client that died mid-write);
    // the device ignores the empty frame it makes.
    if (this.transport.mode === 'binary') {
      const f = encodeFrame(FrameType.REQUEST, job.seq, job.body);
      job.frame = new Uint8Array(f.length + 1);
      job.frame.set(f, 1);
    } else job.frame = ASCII('\n' + encodeArmorLine(FrameType.REQUEST, job.seq, job.body));
    this.send(job);
  }

  private send(job: Job): void {
    job.attempts++;
    this.arm(job);
    this.transport.write(job.frame).catch((e: unknown) => {
      if (this.active !== job) return;
      this.settle(job, e instanceof HsmError ? e : new HsmError('IO', `write to ${this.where()} failed: ${(e as Error).message}`, { cause: e, command: job.name }));
    });
  }

  private arm(job: Job): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = setTimeout(() => this.timeout(job), job.timeoutMs);
  }

  private timeout(job: Job): void {
    if (this.active !== job) return;
    if (job.attempts <= job.retries) {
      this.send(job); // the SAME bytes and seq: the device answers a repeat from its reply cache
      return;
    }
    this.settle(
      job,
      new HsmError('TIMEOUT', `no answer to ${job.name} from ${this.where()} after ${job.attempts} tries of ${job.timeoutMs} ms`, { command: job.name }),
    );
  }

  private abort(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i >= 0) {
      this.queue.splice(i, 1);
      job.reject(aborted(job));
      return;
    }
    if (this.active !== job) return;
    // Tell the device (it may ignore it); any late answer is dropped because its seq is no longer awaited.
    const cancel =
      this.transport.mode === 'binary' ? encodeFrame(FrameType.CANCEL, job.seq, new Uint8Array(0)) : ASCII(encodeArmorLine(FrameType.CANCEL, job.seq, new Uint8Array(0)));
    this.transport.write(cancel).catch(() => {});
    this.settle(job, aborted(job));
  }

  /** Finish the active job with a result or an error, then start the next one. */
  private settle(job: Job, result: Message | HsmError): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = undefined;
    if (job.signal && job.onAbort) job.signal.removeEventListener('abort', job.onAbort);
    if (this.active === job) this.active = undefined;
    if (result instanceof HsmError) job.reject(result);
    else job.resolve(result);
    this.pump();
  }

  private shutdown(reason: HsmError): void {
    if (this.closed) return;
    this.closed = reason;
    const pending = this.queue.splice(0);
    if (this.active) this.settle(this.active, reason);
    for (const job of pending) {
      if (job.signal && job.onAbort) job.signal.removeEventListener('abort', job.onAbort);
      job.reject(reason);
    }
  }

  private receive(chunk: Uint8Array): void {
    const events = this.reader.push(chunk);
    for (const ev of events) if (ev.kind === 'frame') this.onFrame(ev.frame);
  }

  private onFrame(f: Frame): void {
    const job = this.active;
    // late answers to an earlier (timed-out, aborted) request, duplicates and stray frames are ignored
    if (!job || f.seq !== job.seq || f.version !== PROTOCOL_VERSION) return;
    if (f.type === FrameType.KEEPALIVE) {
      this.arm(job); // the device is working on it (waiting for the button, a slow engine)
      return;
    }
    if (f.type !== FrameType.RESPONSE && f.type !== FrameType.ERROR) return;
    this.settle(job, this.parseResponse(job, f));
  }

  private parseResponse(job: Job, f: Frame): Message | HsmError {
    const bad = (why: string) => new HsmError('BAD_RESPONSE', `${job.name}: ${why}`, { command: job.name });
    if (f.body.length < 1) return bad('empty response body');
    const status = f.body[0];
    const decoded = f.body.length > 1 ? cborDecode(f.body.subarray(1)) : { ok: true as const, value: new Map() as CborValue };
    if (!decoded.ok) return bad(`the response is not deterministic CBOR: ${decoded.message}`);
    const map = decoded.value;
    if (!(map instanceof Map)) return bad('the response is not a CBOR map');
    if (f.type === FrameType.ERROR || status !== Status.OK) {
      if (status === Status.OK) return bad('an ERROR frame with status OK');
      const m = map.get(1);
      return HsmError.fromStatus(status, typeof m === 'string' ? m : '', job.name);
    }
    if (!job.schema) {
      const out: Message = {};
      map.forEach((v, k) => (out[String(k)] = v));
      return out;
    }
    const r = decodeMessage<Message>(job.schema, map);
    return r.ok ? r.value : bad(`the response does not match the ${job.name} schema: ${r.message}`);
  }
}

function aborted(job: Job): HsmError {
  const reason = job.signal ? job.signal.reason : undefined;
  return new HsmError('ABORTED', `${job.name} was aborted${reason instanceof Error && reason.name !== 'AbortError' ? ': ' + reason.message : ''}`, {
    command: job.name,
    cause: reason,
  });
}

/** Pick and open the transport a device string names (see HsmClient.open). */
export async function openTransport(spec: string | undefined, opts: OpenOptions = {}): Promise<HostTransport> {
  if (spec === undefined) {
    const found = await discoverDevices();
    if (found.length === 0)
      throw new HsmError('NO_DEVICE', 'no device given and no tinyhsm found on the serial ports', {
        hint: 'pass --device PATH or set HSM_DEVICE (a serial port, a pty from `tinyhsm sim --pty`, a unix socket, or "sim")',
      });
    return SerialTransport.open(found[0].path, { baudRate: opts.baudRate, mode: found[0].linkMode });
  }
  if (spec === 'sim')
    return InProcessTransport.start({ seed: opts.seed, linkMode: opts.linkMode, bundlePath: opts.bundlePath, maxPacket: opts.simMaxPacket });
  if (spec.startsWith('unix:')) return SocketTransport.open(spec.slice(5), { mode: opts.linkMode });
  if (spec.startsWith('armor:')) return SerialTransport.open(spec.slice(6), { baudRate: opts.baudRate, mode: 'armor' });
  let st;
  try {
    st = await stat(spec);
  } catch {
    throw new HsmError('NO_DEVICE', `${spec} does not exist`, {
      hint: 'give a serial port (/dev/ttyACM0), the pty `tinyhsm sim --pty` printed, a unix socket, or "sim"',
    });
  }
  if (st.isSocket()) return SocketTransport.open(spec, { mode: opts.linkMode });
  return SerialTransport.open(spec, { baudRate: opts.baudRate, mode: opts.linkMode });
}
