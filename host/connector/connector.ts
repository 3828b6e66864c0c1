// The connector (docs/connector.md): one device link shared by many client links. It relays frames without opening them (sequence numbers rewritten, CRC recomputed, re-encoded for the device's link mode), one request at the device at a time, with session slot leases, an INFO cache, and a device that may go away and come back.
import { randomInt } from 'node:crypto';
import { Command, FrameReader, FrameType, PROTOCOL_VERSION, Status, type Frame } from '../../firmware/protocol/index.ts';
import { HsmError } from '../errors.ts';
import { openTransport, type DeviceOptions } from '../open-device.ts';
import type { HostTransport } from '../transports/types.ts';
import { ConnectorAnswer, PROCESSING, answerInfo, frameBytes, requestInfo, sameBytes, unknownSessionBody, type RequestInfo } from './wire.ts';

export interface ConnectorOptions {
  /** The device, as `openTransport` takes it: a serial port or pty, `armor:PATH`, `unix:PATH`, a socket path. */
  device: string;
  deviceOptions?: DeviceOptions;
  /** How long the device has to answer (or send a KEEPALIVE) before the connector retransmits the same frame (ms). Default 5000. */
  deviceTimeoutMs?: number;
  /** Retransmissions after a device timeout before the request is given up (the client's own timeout then ends it). Default 2. */
  deviceRetries?: number;
  /** How often a closed device is opened again (ms). Default 500. */
  reopenIntervalMs?: number;
  /** How long a request waits for a device that is away before DEVICE_UNAVAILABLE DEVICE_ABSENT (ms). Default 5000. */
  absentWaitMs?: number;
  /** How long a SESSION_OPEN answered SESSION_LIMIT is held for a slot before the device's answer is passed on (ms). Default 75000. */
  sessionWaitMs?: number;
  /** The device's session idle timeout (docs/session.md §6), after which a lease counts as ended (ms). Default 60000. */
  sessionIdleMs?: number;
  /** How often waiting clients get KEEPALIVE 01 (ms). Default 1000. */
  keepaliveMs?: number;
  /** The most clients at once; more are refused. Default 64. */
  maxClients?: number;
  /** One line per event worth a log (device opened, lost; never a frame's content). */
  log?: (line: string) => void;
}

/** Counters for tests and a status line. */
export interface ConnectorStats {
  /** REQUEST frames written to the device, retransmissions not counted. */
  deviceRequests: number;
  /** INFO requests answered from the cache. */
  infoFromCache: number;
  clients: number;
  deviceOpen: boolean;
  /** Sessions the connector believes open on the device, and not idle past the device's timeout. */
  liveLeases: number;
  /** Requests queued, and SESSION_OPENs held for a slot. */
  queued: number;
  held: number;
}

/** One client link (a socket connection or attach()), with its own sequence space. */
interface Client {
  readonly id: number;
  readonly reader: FrameReader;
  closed: boolean;
  /** Write a frame to the client. */
  deliver(bytes: Uint8Array): void;
  /** Close the client's link (the connector is closing). */
  end(): void;
  /** The last request this client got a RESPONSE to, and that answer as sent, for its retransmissions (docs/protocol.md §1). */
  replay?: { seq: number; body: Uint8Array; frame: Uint8Array };
  /** Its requests queued, held or at the device. */
  readonly jobs: Set<Job>;
}

interface Job {
  readonly client: Client;
  /** The client's sequence number; the device sees deviceSeq. */
  readonly seq: number;
  readonly body: Uint8Array;
  readonly info: RequestInfo;
  state: 'queued' | 'held' | 'flight' | 'done';
  /** When it arrived (ms, monotonic). */
  readonly since: number;
  /** A SESSION_OPEN held for a slot: when the device first answered SESSION_LIMIT, and that answer. */
  heldSince?: number;
  limitAnswer?: Uint8Array;
  deviceSeq: number;
  frame: Uint8Array;
  attempts: number;
  timer?: NodeJS.Timeout;
}

/** A device session as the connector sees it: who opened it, and when the device last answered in it. */
interface Lease {
  readonly client: Client;
  lastAnswer: number;
  /** Idle past the device's timeout: it no longer holds a slot (the record stays, so the id still belongs to its client). */
  expired: boolean;
  /** Opened, and no envelope of it answered yet: it has not logged in, so another SESSION_OPEN could evict it (§4). */
  fresh: boolean;
}

const now = () => Math.round(performance.now());
/** The device's clock and ours may differ a little: a lease counts as ended this long after the idle timeout. */
const IDLE_MARGIN_MS = 1000;
/** A SESSION_OPEN held for a slot is also tried again this often, for slots the connector does not know of (a host on the device before it). */
const HELD_RETRY_MS = 10000;
/**
 * How long other clients' SESSION_OPENs wait for a fresh session's first envelope when its client has sent nothing
 * yet (the host verifies the handshake, then sends LOGIN at once); the wait also ends when that envelope is answered.
 */
const FRESH_WAIT_MS = 2000;
/** Frames the connector reads from a client: INFO's largest maxPacket; larger ones get PACKET_TOO_LARGE. */
const CLIENT_MAX_PACKET = 65535;

export class Connector {
  readonly device: string;
  private readonly opts: Required<Omit<ConnectorOptions, 'deviceOptions' | 'log'>> & Pick<ConnectorOptions, 'deviceOptions' | 'log'>;
  private link: HostTransport | undefined;
  private linkReader: FrameReader | undefined;
  private opening = false;
  private reopenTimer: NodeJS.Timeout | undefined;
  private readonly ticker: NodeJS.Timeout;
  private closed = false;
  private seq = randomInt(0, 0x10000);
  private nextClientId = 1;
  private readonly clients = new Set<Client>();
  private readonly queue: Job[] = [];
  private held: Job[] = [];
  private flight: Job | undefined;
  private readonly leases = new Map<number, Lease>();
  private infoCache: { request: Uint8Array; answer: Uint8Array } | undefined;
  private lastHeldRetry = 0;
  private readonly counters = { deviceRequests: 0, infoFromCache: 0 };

  private constructor(opts: ConnectorOptions) {
    this.device = opts.device;
    this.opts = {
      device: opts.device,
      deviceOptions: opts.deviceOptions,
      log: opts.log,
      deviceTimeoutMs: positive(opts.deviceTimeoutMs, 5000),
      deviceRetries: opts.deviceRetries !== undefined && opts.deviceRetries >= 0 ? opts.deviceRetries : 2,
      reopenIntervalMs: positive(opts.reopenIntervalMs, 500),
      absentWaitMs: positive(opts.absentWaitMs, 5000),
      sessionWaitMs: positive(opts.sessionWaitMs, 75000),
      sessionIdleMs: positive(opts.sessionIdleMs, 60000),
      keepaliveMs: positive(opts.keepaliveMs, 1000),
      maxClients: positive(opts.maxClients, 64),
    };
    this.ticker = setInterval(() => this.tick(), this.opts.keepaliveMs);
    this.ticker.unref();
  }

  /** Open the device and return the connector; rejects with the device's HsmError (NO_DEVICE, IO, …) when it cannot be opened now. */
  static async start(opts: ConnectorOptions): Promise<Connector> {
    if (typeof opts.device !== 'string' || opts.device === '')
      throw new HsmError('BAD_ARGUMENT', 'the connector needs a device: a serial port, armor:PATH, unix:PATH or a socket path');
    if (opts.device.startsWith('connector:'))
      throw new HsmError('BAD_ARGUMENT', `a connector cannot serve another connector (${opts.device}); give the device itself`);
    const c = new Connector(opts);
    try {
      await c.openLink();
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  /** A virtual link to the device for this process ('binary' mode, its own sequence space), as a socket client has. */
  attach(): HostTransport {
    if (this.closed) throw new HsmError('CLOSED', 'the connector is closed');
    let receiver: (b: Uint8Array) => void = () => {};
    let onClose: ((reason?: Error) => void) | undefined;
    let open = true;
    const client = this.addClient(
      // delivered on a later turn, as bytes from a socket are: the link's handlers never run inside its own write
      (b) => queueMicrotask(() => open && receiver(b)),
      () => {
        open = false;
        if (onClose) onClose(new Error('the connector closed'));
      },
    );
    if (!client) throw new HsmError('IO', `the connector serves at most ${this.opts.maxClients} clients; close one first`);
    return {
      mode: 'binary',
      description: `connector for ${this.device}`,
      write: async (bytes: Uint8Array) => {
        if (client.closed) throw new HsmError('CLOSED', 'this connector link is closed');
        this.clientData(client, bytes);
      },
      onData: (cb) => void (receiver = cb),
      onClose: (cb) => void (onClose = cb),
      close: async () => {
        open = false;
        this.clientGone(client);
      },
    };
  }

  /**
   * A client on another link (host/connector/server.ts): `deliver` writes to it, `end` closes it. Returns what feeds
   * it bytes and ends it, or undefined when the connector is full or closed.
   */
  serve(deliver: (b: Uint8Array) => void, end: () => void): { data(b: Uint8Array): void; gone(): void } | undefined {
    const client = this.addClient(deliver, end);
    if (!client) return undefined;
    return { data: (b) => this.clientData(client, b), gone: () => this.clientGone(client) };
  }

  get stats(): ConnectorStats {
    const t = now();
    let live = 0;
    this.leases.forEach((l) => (live += !l.expired && t - l.lastAnswer <= this.opts.sessionIdleMs + IDLE_MARGIN_MS ? 1 : 0));
    return {
      ...this.counters,
      clients: this.clients.size,
      deviceOpen: this.link !== undefined,
      liveLeases: live,
      queued: this.queue.length,
      held: this.held.length,
    };
  }

  /** Stop: every client link is closed, the device link too. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    if (this.flight && this.flight.timer) clearTimeout(this.flight.timer);
    for (const c of [...this.clients]) {
      this.clientGone(c);
      try {
        c.end();
      } catch {
        // a link already gone
      }
    }
    const link = this.link;
    this.link = undefined;
    if (link) await link.close().catch(() => {});
  }

  // ------------------------------------------------------------------ the device link

  private async openLink(): Promise<void> {
    this.opening = true;
    let link: HostTransport;
    try {
      link = await openTransport(this.device, this.opts.deviceOptions);
    } finally {
      this.opening = false;
    }
    if (this.closed) {
      await link.close().catch(() => {});
      return;
    }
    this.link = link;
    this.linkReader = new FrameReader(CLIENT_MAX_PACKET, link.mode);
    link.onData((b) => this.fromDevice(link, b));
    if (link.onClose) link.onClose((reason) => this.deviceLost(link, reason));
    this.log(`device ${this.device} open`);
    this.pump();
  }

  /** The device link closed (unplugged, simulator stopped): fail what it had and what waited, keep the clients, reopen. */
  private deviceLost(link: HostTransport, reason?: Error): void {
    if (this.link !== link) return;
    this.link = undefined;
    this.linkReader = undefined;
    void link.close().catch(() => {});
    this.log(`device ${this.device} went away${reason ? ': ' + reason.message : ''}; reopening every ${this.opts.reopenIntervalMs} ms`);
    // its sessions and state are gone with it, or cannot be known (docs/connector.md §7)
    this.leases.clear();
    this.infoCache = undefined;
    const flight = this.flight;
    this.flight = undefined;
    if (flight) {
      if (flight.timer) clearTimeout(flight.timer);
      this.answer(flight, FrameType.ERROR, ConnectorAnswer.deviceGone(true));
    }
    for (const job of [...this.queue.splice(0), ...this.held.splice(0)]) this.answer(job, FrameType.ERROR, ConnectorAnswer.deviceGone(false));
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    if (this.closed || this.reopenTimer || this.link) return;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      if (this.closed || this.link || this.opening) return;
      this.openLink().catch(() => this.scheduleReopen());
    }, this.opts.reopenIntervalMs);
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) & 0xffff;
    return this.seq;
  }

  /** Send the next queued request to the device, if it has none. */
  private pump(): void {
    if (this.flight || !this.link || this.closed) return;
    for (const j of this.queue) if (j.client.closed) j.state = 'done';
    for (let k = this.queue.length - 1; k >= 0; k--) if (this.queue[k].state === 'done') this.queue.splice(k, 1);
    // the first in arrival order, but a SESSION_OPEN waits while another client's new session has not sent its
    // first envelope (its LOGIN): the device would evict that session to make room (session.md §6, connector.md §4)
    const t = now();
    const i = this.queue.findIndex((j) => j.info.command !== Command.SESSION_OPEN || !this.openDeferred(j.client, t));
    if (i < 0) return;
    const job = this.queue.splice(i, 1)[0];
    // an INFO answered while this one queued: the cache is as good as the device now (docs/connector.md §6)
    if (this.fromInfoCache(job)) return this.pump();
    const link = this.link;
    job.state = 'flight';
    job.deviceSeq = this.nextSeq();
    job.frame = frameBytes(link.mode, FrameType.REQUEST, job.deviceSeq, job.body);
    job.attempts = 0;
    this.flight = job;
    // any other request may change what INFO says (slotsUsed, PIN tries): the cache ends when one reaches the device
    if (!(job.info.clearInfo && this.infoCache && sameBytes(this.infoCache.request, job.body))) this.infoCache = undefined;
    this.counters.deviceRequests++;
    this.transmit(job);
  }

  /** Write the job's frame (again: the same seq and bytes, so the device's reply cache answers a repeat, docs/protocol.md §1). */
  private transmit(job: Job): void {
    const link = this.link;
    if (!link) return;
    job.attempts++;
    this.arm(job);
    link.write(job.frame).catch((e: unknown) => this.deviceLost(link, e instanceof Error ? e : undefined));
  }

  private arm(job: Job): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = setTimeout(() => this.deviceTimeout(job), this.opts.deviceTimeoutMs);
  }

  private deviceTimeout(job: Job): void {
    if (this.flight !== job) return;
    if (job.attempts <= this.opts.deviceRetries) return this.transmit(job);
    // given up: the client's own timeout ends its call (host/link.ts); a late answer to this seq is ignored
    this.log(`no answer from ${this.device} after ${job.attempts} tries; giving the request up`);
    this.flight = undefined;
    job.state = 'done';
    job.client.jobs.delete(job);
    this.pump();
  }

  private fromDevice(link: HostTransport, bytes: Uint8Array): void {
    if (this.link !== link || !this.linkReader) return;
    for (const ev of this.linkReader.push(bytes)) if (ev.kind === 'frame') this.onDeviceFrame(ev.frame);
  }

  private onDeviceFrame(f: Frame): void {
    const job = this.flight;
    // late answers to a request given up, duplicates and strays are dropped, as host/link.ts does
    if (!job || f.seq !== job.deviceSeq || f.version !== PROTOCOL_VERSION) return;
    if (f.type === FrameType.KEEPALIVE) {
      this.arm(job);
      if (!job.client.closed) job.client.deliver(frameBytes('binary', FrameType.KEEPALIVE, job.seq, f.body));
      return;
    }
    if (f.type !== FrameType.RESPONSE && f.type !== FrameType.ERROR) return;
    if (job.timer) clearTimeout(job.timer);
    this.flight = undefined;
    this.finish(job, f.type, f.body);
    this.pump();
  }

  /** The device answered `job`: learn what it says of sessions and INFO, then answer the client (or hold a SESSION_OPEN). */
  private finish(job: Job, type: number, body: Uint8Array): void {
    let slotFreed = false;
    if (type === FrameType.RESPONSE) {
      const t = now();
      const a = answerInfo(job.info.command, body);
      if (job.info.command === Command.SESSION_OPEN) {
        if (a.openedSession !== undefined) this.leases.set(a.openedSession, { client: job.client, lastAnswer: t, expired: false, fresh: true });
        else if (a.status === Status.SESSION_LIMIT && !job.client.closed) {
          // every slot holds a logged-in session: wait for a lease to end instead of failing (docs/connector.md §4)
          if (job.heldSince === undefined) job.heldSince = t;
          if (t - job.heldSince < this.opts.sessionWaitMs) {
            job.state = 'held';
            job.limitAnswer = body;
            this.held.push(job);
            return;
          }
        }
      } else if (job.info.sessionId !== undefined) {
        const lease = this.leases.get(job.info.sessionId);
        if (lease && lease.client === job.client) {
          lease.fresh = false;
          if (a.status === Status.SESSION_INVALID) {
            this.leases.delete(job.info.sessionId);
            slotFreed = true;
          } else if (a.status === Status.OK) {
            // the device's idle clock restarts at each authenticated answer (docs/session.md §6)
            lease.lastAnswer = t;
            lease.expired = false;
          }
        }
      }
      if (job.info.clearInfo && a.status === Status.OK) this.infoCache = { request: job.body, answer: body };
    }
    this.answer(job, type, body);
    if (slotFreed) this.retryHeld('a session ended');
  }

  /** Whether a SESSION_OPEN of `client` waits for another client's fresh session to send its first envelope. */
  private openDeferred(client: Client, t: number): boolean {
    let wait = false;
    this.leases.forEach((l) => {
      if (wait || !l.fresh || l.client === client || l.client.closed) return;
      let sending = false;
      l.client.jobs.forEach((j) => (sending = sending || j.info.command !== Command.SESSION_OPEN));
      wait = sending || t - l.lastAnswer < FRESH_WAIT_MS;
    });
    return wait;
  }

  /** Held SESSION_OPENs go to the front of the queue, in their order, to be sent again under a new device seq. */
  private retryHeld(why: string): void {
    if (this.held.length === 0) return;
    this.lastHeldRetry = now();
    this.log(`trying ${this.held.length} held SESSION_OPEN again: ${why}`);
    const jobs = this.held.splice(0);
    for (const j of jobs) j.state = 'queued';
    // a new device seq for each try: the same seq and body would get the cached SESSION_LIMIT (docs/protocol.md §1)
    this.queue.unshift(...jobs);
    this.pump();
  }

  /** Once per keepaliveMs: KEEPALIVE 01 to waiting clients, and the bounds on waiting. */
  private tick(): void {
    if (this.closed) return;
    const t = now();
    for (const job of [...this.queue, ...this.held]) {
      if (job.client.closed) continue;
      if (job.state === 'held' && job.heldSince !== undefined && t - job.heldSince >= this.opts.sessionWaitMs) {
        // no slot came free in time: the device's own answer (docs/connector.md §4)
        this.held.splice(this.held.indexOf(job), 1);
        this.answer(job, FrameType.RESPONSE, job.limitAnswer || new Uint8Array(0));
        continue;
      }
      if (!this.link && job.state === 'queued' && t - job.since >= this.opts.absentWaitMs) {
        this.queue.splice(this.queue.indexOf(job), 1);
        this.answer(job, FrameType.ERROR, ConnectorAnswer.deviceAbsent(t - job.since));
        continue;
      }
      job.client.deliver(frameBytes('binary', FrameType.KEEPALIVE, job.seq, PROCESSING));
    }
    let ended = false;
    this.leases.forEach((l) => {
      if (!l.expired && t - l.lastAnswer > this.opts.sessionIdleMs + IDLE_MARGIN_MS) {
        l.expired = true;
        ended = true;
      }
    });
    if (ended) this.retryHeld('a session idled past the device timeout');
    else if (this.held.length > 0 && t - this.lastHeldRetry >= HELD_RETRY_MS) this.retryHeld('periodic retry');
    this.pump(); // a SESSION_OPEN deferred for a fresh session whose wait ran out
  }

  // ------------------------------------------------------------------ clients

  private addClient(deliver: (b: Uint8Array) => void, end: () => void): Client | undefined {
    if (this.closed || this.clients.size >= this.opts.maxClients) return undefined;
    const client: Client = {
      id: this.nextClientId++,
      reader: new FrameReader(CLIENT_MAX_PACKET, 'binary'),
      closed: false,
      deliver,
      end,
      jobs: new Set(),
    };
    this.clients.add(client);
    return client;
  }

  /** A client went away: its waiting requests leave the queue; one at the device finishes there, unanswered. */
  private clientGone(client: Client): void {
    if (client.closed) return;
    client.closed = true;
    this.clients.delete(client);
    for (const job of client.jobs) this.unqueue(job);
    client.jobs.clear();
    client.replay = undefined;
    // a client that closed its link has usually closed its session first (SESSION_CLOSE, which the connector cannot
    // read): try the held SESSION_OPENs once now; its leases otherwise end with the idle timeout (docs/connector.md §4)
    let had = false;
    this.leases.forEach((l) => (had = had || l.client === client));
    if (had) this.retryHeld('a client holding a session left');
    this.pump(); // a SESSION_OPEN may have waited for this client's fresh session
  }

  private unqueue(job: Job): void {
    let i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    i = this.held.indexOf(job);
    if (i >= 0) this.held.splice(i, 1);
    if (job.state !== 'flight') job.state = 'done';
  }

  private clientData(client: Client, bytes: Uint8Array): void {
    if (client.closed) return;
    for (const ev of client.reader.push(bytes)) {
      if (client.closed) return;
      if (ev.kind === 'oversize') {
        if (ev.seq !== undefined) this.own(client, FrameType.ERROR, ev.seq, ConnectorAnswer.tooLarge(CLIENT_MAX_PACKET));
        continue;
      }
      const f = ev.frame;
      if (f.version !== PROTOCOL_VERSION) this.own(client, FrameType.ERROR, f.seq, ConnectorAnswer.versionUnsupported(f.version));
      else if (f.type === FrameType.REQUEST) this.clientRequest(client, f.seq, f.body);
      else if (f.type === FrameType.CANCEL) this.clientCancel(client, f.seq, f.body);
      else this.own(client, FrameType.ERROR, f.seq, ConnectorAnswer.frameTypeRefused(f.type));
    }
  }

  private clientRequest(client: Client, seq: number, body: Uint8Array): void {
    // a retransmission of what was answered: the same answer, per client, as the device's reply cache (docs/protocol.md §1)
    const r = client.replay;
    if (r && r.seq === seq && sameBytes(r.body, body)) return client.deliver(r.frame);
    for (const job of client.jobs) {
      if (job.seq !== seq || !sameBytes(job.body, body)) continue;
      // a retransmission of what waits: not queued twice; one at the device goes to it again, as the client's own
      // link would have sent it, and the connector waits as long as the client does
      if (job.state === 'flight' && this.flight === job) {
        job.attempts = 0;
        this.transmit(job);
      }
      return;
    }
    // a new request from a client whose link moved on (an aborted call) replaces what it still has waiting
    for (const job of [...client.jobs]) {
      if (job.state === 'flight') continue;
      this.unqueue(job);
      client.jobs.delete(job);
    }
    const info = requestInfo(body);
    const job: Job = { client, seq, body, info, state: 'queued', since: now(), deviceSeq: -1, frame: new Uint8Array(0), attempts: 0 };
    if (info.sessionId !== undefined) {
      const lease = this.leases.get(info.sessionId);
      // a session this client does not hold on the device as it is now (restarted, or another client's): the
      // device's own answer for an unknown session, so the client opens a new one (docs/connector.md §4)
      if (!lease || lease.client !== client) return this.answer(job, FrameType.RESPONSE, unknownSessionBody(info.sessionId));
    }
    if (this.fromInfoCache(job)) return;
    client.jobs.add(job);
    this.queue.push(job);
    this.pump();
  }

  /** Answer an INFO in the clear from the cache, when nothing else reached the device since (docs/connector.md §6). */
  private fromInfoCache(job: Job): boolean {
    const cache = this.infoCache;
    if (!job.info.clearInfo || !cache || !this.link || !sameBytes(cache.request, job.body)) return false;
    this.counters.infoFromCache++;
    this.answer(job, FrameType.RESPONSE, cache.answer);
    return true;
  }

  private clientCancel(client: Client, seq: number, body: Uint8Array): void {
    for (const job of client.jobs) {
      if (job.seq !== seq) continue;
      if (job.state === 'flight') {
        // to the device at once, under its seq; the token inside is for the device to check (docs/session.md §4.1)
        if (this.flight === job && this.link) this.link.write(frameBytes(this.link.mode, FrameType.CANCEL, job.deviceSeq, body)).catch(() => {});
      } else {
        this.unqueue(job);
        this.answer(job, FrameType.ERROR, ConnectorAnswer.queueCancelled());
      }
      return;
    }
  }

  /** Answer `job`'s client with the client's seq; a RESPONSE is kept for its retransmission. */
  private answer(job: Job, type: number, body: Uint8Array): void {
    job.state = 'done';
    job.client.jobs.delete(job);
    if (job.client.closed) return;
    const frame = frameBytes('binary', type, job.seq, body);
    // as the device's reply cache: RESPONSEs only; an ERROR frame's request runs again when sent again
    job.client.replay = type === FrameType.RESPONSE ? { seq: job.seq, body: job.body, frame } : undefined;
    job.client.deliver(frame);
  }

  /** A frame of the connector's own that answers no queued request (a refused frame). */
  private own(client: Client, type: number, seq: number, body: Uint8Array): void {
    client.deliver(frameBytes('binary', type, seq, body));
  }

  private log(line: string): void {
    if (this.opts.log) this.opts.log(line);
  }
}

function positive(v: number | undefined, dflt: number): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : dflt;
}
