// The link: request frames on a HostTransport, one in flight and the rest queued, sequence numbers, timeouts, retransmission with the same seq, KEEPALIVE and CANCEL (docs/protocol.md §1); it knows nothing of sessions or PINs.
import { randomInt } from 'node:crypto';
import {
  FrameReader,
  FrameType,
  KeepaliveReason,
  PROTOCOL_VERSION,
  encodeArmorLine,
  encodeFrame,
  type Frame,
  type Message,
} from '../firmware/protocol/index.ts';
import { HsmError } from './errors.ts';
import type { HostTransport } from './transports/types.ts';

export interface LinkOptions {
  /** How long to wait for an answer before retransmitting (ms). Keepalive frames restart the wait. Default 5000. */
  timeoutMs?: number;
  /** How many times a timed-out request is sent again (same bytes, same seq). Default 2. */
  retries?: number;
  /** Largest packet this host accepts from the device. Default 65535 (INFO's maximum). */
  maxPacket?: number;
  /** Called for every KEEPALIVE frame of a request (the device is still working, or waits for its button). */
  onKeepalive?: (e: KeepaliveEvent) => void;
  /** After an abort, how long the link waits for the device's answer to the CANCEL before the next request (ms). Default 2000. */
  cancelWaitMs?: number;
}

/** A KEEPALIVE frame for the request in flight (docs/security.md §7). */
export interface KeepaliveEvent {
  /** The command waiting ('SIGN', …). */
  command: string;
  seq: number;
  /** codes.ts KeepaliveReason (the frame's one-byte body; 0 when the body is empty). */
  reason: number;
  /** True when the device waits for its button (KeepaliveReason.PRESENCE_NEEDED): tell the person to touch it. */
  presence: boolean;
}

export interface CallOptions {
  /** Abort the request: a queued one leaves the queue; one in flight sends CANCEL (docs/security.md §7). */
  signal?: AbortSignal;
  timeoutMs?: number;
  retries?: number;
  /** Called for every KEEPALIVE frame of this request (overrides ClientOptions.onKeepalive). */
  onKeepalive?: (e: KeepaliveEvent) => void;
}

/** One request as the link carries it. */
export interface LinkRequest {
  /** The command's name ('SIGN', …), for errors and keepalive events. */
  name: string;
  /** The REQUEST frame's body. */
  body: Uint8Array;
  /** The answer (the body of a RESPONSE or ERROR frame) to what the caller gets; called before the next request goes out. */
  answer(body: Uint8Array, errorFrame: boolean): Message | HsmError;
  /** The body of the CANCEL frame that aborts this request in flight (docs/protocol.md §1); empty when absent. */
  cancelBody?(): Uint8Array;
}

interface Job {
  request: LinkRequest;
  name: string;
  timeoutMs: number;
  retries: number;
  signal: AbortSignal | undefined;
  onKeepalive: ((e: KeepaliveEvent) => void) | undefined;
  /** Aborted while in flight: the caller has its ABORTED error; the link waits briefly for the device's answer to CANCEL. */
  cancelling?: boolean;
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
const DEFAULT_CANCEL_WAIT_MS = 2000;
const ASCII = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

export class Link {
  readonly transport: HostTransport;
  /** A request's timeout and retries when it sets none. */
  readonly timeoutMs: number;
  readonly retries: number;
  private readonly reader: FrameReader;
  private readonly queue: Job[] = [];
  private active: Job | undefined;
  private seq: number;
  private closedBy: HsmError | undefined;
  private readonly onKeepalive: ((e: KeepaliveEvent) => void) | undefined;
  private readonly cancelWaitMs: number;
  private readonly shutdownListeners: ((reason: HsmError) => void)[] = [];

  constructor(transport: HostTransport, opts: LinkOptions = {}) {
    this.transport = transport;
    this.timeoutMs = opts.timeoutMs || DEFAULT_TIMEOUT_MS;
    this.retries = opts.retries !== undefined ? opts.retries : DEFAULT_RETRIES;
    this.onKeepalive = opts.onKeepalive;
    this.cancelWaitMs = opts.cancelWaitMs !== undefined ? opts.cancelWaitMs : DEFAULT_CANCEL_WAIT_MS;
    this.reader = new FrameReader(opts.maxPacket || 65535, transport.mode);
    // A random first sequence number (docs/protocol.md §1): the device's one-entry reply cache must not take a new
    // client's first request for a retransmission of the previous client's last one.
    this.seq = randomInt(0, 0x10000);
    transport.onData((b) => this.receive(b));
    if (transport.onClose)
      transport.onClose((reason) => this.shutdown(new HsmError('CLOSED', `${this.where()} closed${reason ? ': ' + reason.message : ''}`, { cause: reason })));
  }

  /** Why the link is closed (every request since fails with it), or undefined while it is open. */
  get closed(): HsmError | undefined {
    return this.closedBy;
  }

  /** The link as messages name it. */
  where(): string {
    return this.transport.description || 'the link';
  }

  /** Called once when the link closes, before the requests still waiting fail. */
  onShutdown(cb: (reason: HsmError) => void): void {
    this.shutdownListeners.push(cb);
  }

  /** Queue one request; resolves or rejects with what its `answer` makes of the device's answer. */
  send(request: LinkRequest, opts: CallOptions = {}): Promise<Message> {
    return new Promise<Message>((resolve, reject) => {
      if (this.closedBy) return reject(this.closedBy);
      const job: Job = {
        request,
        name: request.name,
        timeoutMs: opts.timeoutMs || this.timeoutMs,
        retries: opts.retries !== undefined ? opts.retries : this.retries,
        signal: opts.signal,
        onKeepalive: opts.onKeepalive || this.onKeepalive,
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

  /** Whether writeSync() can write: the link is open and the transport writes synchronously. */
  get canWriteSync(): boolean {
    return !this.closedBy && this.transport.writeSync !== undefined;
  }

  /**
   * Write one request at once, with the next sequence number, and wait for nothing (a process that is ending).
   * Throws when the transport cannot write synchronously or the write fails.
   */
  writeSync(body: Uint8Array): void {
    if (!this.transport.writeSync) throw new Error(`${this.where()} cannot write synchronously`);
    this.seq = (this.seq + 1) & 0xffff;
    this.transport.writeSync(this.frameBytes(FrameType.REQUEST, this.seq, body));
  }

  /** Fail every request queued or in flight with `reason`; the link stays open for what is sent next. */
  failWaiting(reason: HsmError): void {
    for (const job of this.queue.splice(0)) {
      if (job.signal && job.onAbort) job.signal.removeEventListener('abort', job.onAbort);
      job.reject(reason);
    }
    if (this.active) this.settle(this.active, reason);
  }

  /** Close the link for good: the shutdown listeners run, then every request waiting fails with `reason`, and so does every later one. */
  shutdown(reason: HsmError): void {
    if (this.closedBy) return;
    this.closedBy = reason;
    for (const cb of this.shutdownListeners) cb(reason);
    const pending = this.queue.splice(0);
    if (this.active) this.settle(this.active, reason);
    for (const job of pending) {
      if (job.signal && job.onAbort) job.signal.removeEventListener('abort', job.onAbort);
      job.reject(reason);
    }
  }

  /** A frame as this link writes it: a leading delimiter + COBS frame (binary), or a newline + armor line. */
  private frameBytes(type: number, seq: number, body: Uint8Array): Uint8Array {
    if (this.transport.mode === 'binary') {
      const f = encodeFrame(type, seq, body);
      const out = new Uint8Array(f.length + 1);
      out.set(f, 1);
      return out;
    }
    return ASCII('\n' + encodeArmorLine(type, seq, body));
  }

  private pump(): void {
    if (this.active || this.closedBy) return;
    const job = this.queue.shift();
    if (!job) return;
    this.active = job;
    this.seq = (this.seq + 1) & 0xffff;
    job.seq = this.seq;
    // A leading delimiter ends any half frame the device's reader holds (a previous client that died mid-write);
    // the device ignores the empty frame it makes.
    job.frame = this.frameBytes(FrameType.REQUEST, job.seq, job.request.body);
    this.transmit(job);
  }

  private transmit(job: Job): void {
    job.attempts++;
    this.arm(job);
    this.transport.write(job.frame).catch((e: unknown) => {
      if (this.active !== job) return;
      this.settle(
        job,
        e instanceof HsmError ? e : new HsmError('IO', `write to ${this.where()} failed: ${(e as Error).message}`, { cause: e, command: job.name }),
      );
    });
  }

  private arm(job: Job): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = setTimeout(() => this.timeout(job), job.timeoutMs);
  }

  private timeout(job: Job): void {
    if (this.active !== job || job.cancelling) return;
    if (job.attempts <= job.retries) {
      this.transmit(job); // the SAME bytes and seq: the device answers a repeat from its reply cache
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
    if (this.active !== job || job.cancelling) return;
    // Tell the device (docs/security.md §7: a request waiting for the button ends with CANCELLED). The caller has its
    // answer at once; the link stays with this request until the device's answer comes, or cancelWaitMs passes, so
    // the next request does not meet a device that is still waiting (BUSY).
    // A request in a session is cancelled with that session's token (docs/session.md §4.1), which its cancelBody gives
    const body = job.request.cancelBody ? job.request.cancelBody() : new Uint8Array(0);
    const cancel = this.transport.mode === 'binary' ? encodeFrame(FrameType.CANCEL, job.seq, body) : ASCII(encodeArmorLine(FrameType.CANCEL, job.seq, body));
    this.transport.write(cancel).catch(() => {});
    job.cancelling = true;
    if (job.signal && job.onAbort) job.signal.removeEventListener('abort', job.onAbort);
    job.reject(aborted(job));
    if (job.timer) clearTimeout(job.timer);
    job.timer = setTimeout(() => {
      if (this.active === job) this.settle(job, aborted(job)); // no answer: free the link anyway
    }, this.cancelWaitMs);
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

  private receive(chunk: Uint8Array): void {
    const events = this.reader.push(chunk);
    for (const ev of events) if (ev.kind === 'frame') this.onFrame(ev.frame);
  }

  private onFrame(f: Frame): void {
    const job = this.active;
    // late answers to an earlier (timed-out, aborted) request, duplicates and stray frames are ignored
    if (!job || f.seq !== job.seq || f.version !== PROTOCOL_VERSION) return;
    if (f.type === FrameType.KEEPALIVE) {
      if (job.cancelling) return; // the cancel wait is bounded; keepalives do not extend it
      this.arm(job); // the device is working on it (waiting for the button, a slow engine)
      if (job.onKeepalive) {
        const reason = f.body.length > 0 ? f.body[0] : 0;
        try {
          job.onKeepalive({ command: job.name, seq: job.seq, reason, presence: reason === KeepaliveReason.PRESENCE_NEEDED });
        } catch (e) {
          /* a reporting callback must not break the exchange */
        }
      }
      return;
    }
    if (f.type !== FrameType.RESPONSE && f.type !== FrameType.ERROR) return;
    // the device's answer to a cancelled request (CANCELLED, or the result if it finished first): the caller already
    // has ABORTED; the answer is not opened, and the link is free again
    if (job.cancelling) return this.settle(job, aborted(job));
    this.settle(job, job.request.answer(f.body, f.type === FrameType.ERROR));
  }
}

function aborted(job: Job): HsmError {
  const reason = job.signal ? job.signal.reason : undefined;
  return new HsmError('ABORTED', `${job.name} was aborted${reason instanceof Error && reason.name !== 'AbortError' ? ': ' + reason.message : ''}`, {
    command: job.name,
    cause: reason,
  });
}
