// An SSH agent on a tinyhsm (docs/ssh.md): a Unix-socket server speaking the agent protocol (draft-miller-ssh-agent, PROTOCOL.agent) that lists the device's signing keys and signs with them; everything else is refused.
import net from 'node:net';
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { Alg, Capability } from '../firmware/protocol/index.ts';
import { HsmError } from './errors.ts';
import { pinBytes } from './credentials.ts';
import { clearStaleSocket, listenUnix, removeSocket } from './unix-socket.ts';
import type { HsmClient } from './client.ts';
import {
  AgentMessage,
  SshFormatError,
  SshReader,
  SshWriter,
  agentFrame,
  devicePublicKeyBlob,
  fingerprint,
  parseSessionBind,
  signSsh,
  sshComment,
  verifySshSignature,
} from './ssh.ts';

/** OpenSSH's agent refuses messages over 256 KiB (its AGENT_MAX_LEN); so do we, by closing the connection. */
export const MAX_AGENT_MESSAGE = 256 * 1024;
/** PROTOCOL.agent §1: a session identifier is an exchange hash (at most SHA-512's 64 bytes); OpenSSH allows 128. */
const MAX_SESSION_ID = 128;
/** Bindings one connection may record (a chain of forwarding hops ending in an authentication). */
const MAX_BINDINGS = 16;
/** Requests a client may have queued on one connection before the agent stops reading from it. */
const MAX_PENDING = 8;
/** scrypt parameters of the lock verifier (RFC 7914): 16 MiB, about 50 ms, enough to make a copy of it slow to guess. */
const SCRYPT = { N: 1 << 14, r: 8, p: 1, keylen: 32 };

export interface SshAgentOptions {
  /** An open client on the device; the agent logs it in as the user and uses it until close(). */
  client: HsmClient;
  /** The user PIN. The agent keeps a copy to log in again after an idle logout, and wipes it on LOCK and close(). */
  pin: string | Uint8Array;
  /** Log the device out after this long without a SIGN_REQUEST (ms); 0 never. Default 15 minutes. */
  idleMs?: number;
  /** Largest message accepted (bytes after the length); a longer one closes its connection. Default 256 KiB. */
  maxMessage?: number;
  /** Connections served at once; more are closed at once. Default 64. */
  maxConnections?: number;
  /** One line per event (connections refused, bindings, signatures, lock, idle logout); never key material. */
  log?: (line: string) => void;
}

/** A device key the agent offers. */
export interface AgentIdentity {
  keyId: number;
  alg: number;
  publicKey: Uint8Array;
  /** The SSH public key blob (what SIGN_REQUEST names). */
  blob: Uint8Array;
  comment: string;
  /** The key's policy wants a button press for every use. */
  touch: boolean;
}

/** One session-bind@openssh.com a connection recorded (PROTOCOL.agent §1). */
export interface AgentBinding {
  hostKey: Uint8Array;
  sessionId: Uint8Array;
  forwarding: boolean;
  /** The host key's signature over the session id was checked; false for a host key type this agent cannot check. */
  verified: boolean;
}

/** The agent's state of one client connection. */
export interface AgentConnection {
  readonly id: number;
  bindings: AgentBinding[];
  /** A session-bind on this connection failed: it signs nothing (docs/ssh.md "session-bind"). */
  bindFailed: boolean;
}

interface Conn extends AgentConnection {
  socket: net.Socket;
  input: Buffer;
  pending: number;
  queue: Promise<void>;
}

interface LockState {
  /** scrypt of the PIN the agent held when it was locked; undefined when it held none (a PIN the device refused). */
  verifier: Promise<{ salt: Buffer; hash: Buffer } | undefined>;
}

const FAILURE = Uint8Array.of(AgentMessage.FAILURE);
const SUCCESS = Uint8Array.of(AgentMessage.SUCCESS);
const EXTENSION_FAILURE = Uint8Array.of(AgentMessage.EXTENSION_FAILURE);
/** The extensions EXTENSION "query" lists (draft-miller-ssh-agent §4.8, PROTOCOL.agent). */
export const AGENT_EXTENSIONS = ['query', 'session-bind@openssh.com'] as const;

function scryptAsync(secret: Uint8Array, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p }, (e, key) => (e ? reject(e) : resolve(key))),
  );
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A PIN the device refused (wrong, blocked, locked until a power cycle): trying it again would spend tries. */
function pinRefused(e: unknown): boolean {
  return e instanceof HsmError && String(e.statusName).startsWith('PIN_');
}

export class SshAgent {
  private readonly client: HsmClient;
  private readonly idleMs: number;
  private readonly maxMessage: number;
  private readonly maxConnections: number;
  private readonly log: (line: string) => void;

  private pin: Uint8Array | undefined;
  private lockState: LockState | undefined;
  private unlockBusy = false;
  private unlockFailures = 0;
  private loggedIn = false;
  private loginOp: Promise<void> | undefined;
  private refreshOp: Promise<void> | undefined;
  private keys: AgentIdentity[] = [];
  /** Signatures in flight: LOCK and close() abort them (a touch wait ends with CANCEL on the device). */
  private readonly inFlight = new Set<AbortController>();
  /** The key whose SIGN waits for the device's button; other SIGN requests are refused meanwhile (docs/ssh.md). */
  private touchBusy: AgentIdentity | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private server: net.Server | undefined;
  private socketPath: string | undefined;
  private readonly conns = new Set<Conn>();
  private nextConn = 1;
  private closed = false;

  private constructor(opts: SshAgentOptions) {
    this.client = opts.client;
    this.idleMs = opts.idleMs === undefined ? 15 * 60_000 : opts.idleMs;
    this.maxMessage = opts.maxMessage || MAX_AGENT_MESSAGE;
    this.maxConnections = opts.maxConnections || 64;
    this.log = opts.log || (() => {});
    this.pin = pinBytes(opts.pin, 'the user PIN');
  }

  /** Log the device in with the PIN (a wrong PIN throws here, before anything listens) and read its keys. */
  static async start(opts: SshAgentOptions): Promise<SshAgent> {
    const agent = new SshAgent(opts);
    try {
      await agent.client.login('user', agent.pin!);
      agent.loggedIn = true;
      await agent.refresh();
      agent.resetIdle();
      return agent;
    } catch (e) {
      agent.wipe();
      throw e;
    }
  }

  /** The keys offered now (empty while locked). */
  get identities(): readonly AgentIdentity[] {
    return this.lockState ? [] : this.keys;
  }

  get locked(): boolean {
    return this.lockState !== undefined;
  }

  /** Whether the device session is logged in (false after an idle logout or a LOCK). */
  get deviceLoggedIn(): boolean {
    return this.loggedIn;
  }

  /** Whether a SIGN waits for the device's button now. */
  get waitingForTouch(): boolean {
    return this.touchBusy !== undefined;
  }

  // ---------------------------------------------------------------- the socket

  /**
   * Serve on a Unix socket at `path`, made owner-only (0600) as OpenSSH's agent makes its own: whoever can connect can
   * sign. A stale socket left by a killed agent is replaced; a live one or any other file is refused.
   */
  async listen(path: string): Promise<void> {
    await clearStaleSocket(path, 'an agent? stop it or choose another socket path (-a)');
    const server = net.createServer((socket) => this.accept(socket));
    server.maxConnections = this.maxConnections;
    await listenUnix(server, path, 0o600);
    server.on('error', (e) => this.log(`socket error: ${errorText(e)}`));
    this.server = server;
    this.socketPath = path;
  }

  /** Stop serving: close the socket and every connection, abort signatures in flight, wipe the PIN. The client stays open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    for (const ac of this.inFlight) ac.abort(new Error('the agent is stopping'));
    for (const c of this.conns) c.socket.destroy();
    this.conns.clear();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    if (this.socketPath) removeSocket(this.socketPath);
    this.wipe();
  }

  private wipe(): void {
    if (this.pin) this.pin.fill(0);
    this.pin = undefined;
  }

  private accept(socket: net.Socket): void {
    const conn: Conn = { id: this.nextConn++, socket, input: Buffer.alloc(0), pending: 0, queue: Promise.resolve(), bindings: [], bindFailed: false };
    this.conns.add(conn);
    socket.on('error', () => {
      // a client that went away: 'close' follows
    });
    socket.on('close', () => this.conns.delete(conn));
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
  }

  /** Split the stream into messages (uint32 length ‖ body) and answer them in order, one at a time per connection. */
  private onData(conn: Conn, chunk: Buffer): void {
    conn.input = conn.input.length === 0 ? chunk : Buffer.concat([conn.input, chunk]);
    while (conn.input.length >= 4) {
      const len = conn.input.readUInt32BE(0);
      if (len > this.maxMessage) {
        // the rest of an oversized message cannot be skipped without reading it all: drop the connection instead
        this.log(`connection ${conn.id}: message of ${len} bytes is over the limit of ${this.maxMessage}; connection closed`);
        conn.input = Buffer.alloc(0);
        conn.socket.destroy();
        return;
      }
      if (conn.input.length < 4 + len) return;
      const body = new Uint8Array(conn.input.subarray(4, 4 + len));
      conn.input = conn.input.subarray(4 + len);
      conn.pending++;
      if (conn.pending >= MAX_PENDING) conn.socket.pause();
      conn.queue = conn.queue.then(async () => {
        let reply: Uint8Array;
        try {
          reply = await this.handle(body, conn);
        } catch (e) {
          this.log(`connection ${conn.id}: request failed: ${errorText(e)}`);
          reply = FAILURE;
        }
        if (!conn.socket.destroyed) conn.socket.write(agentFrame(reply));
        conn.pending--;
        if (conn.pending < MAX_PENDING && !conn.socket.destroyed) conn.socket.resume();
      });
    }
  }

  // ---------------------------------------------------------------- requests

  /** One request body (type ‖ contents) to its answer body. Never throws for bad input: FAILURE. */
  async handle(body: Uint8Array, conn: AgentConnection): Promise<Uint8Array> {
    if (body.length === 0) return FAILURE;
    const r = new SshReader(body.subarray(1));
    try {
      switch (body[0]) {
        case AgentMessage.REQUEST_IDENTITIES:
          r.end('REQUEST_IDENTITIES');
          return await this.identitiesAnswer();
        case AgentMessage.SIGN_REQUEST:
          return await this.signRequest(r, conn);
        case AgentMessage.LOCK:
          return await this.lock(r);
        case AgentMessage.UNLOCK:
          return await this.unlock(r, conn);
        case AgentMessage.EXTENSION:
          return await this.extension(r, conn);
        default:
          // adding, removing, smartcards and protocol-1 requests: the device's keys are the only keys (docs/ssh.md)
          this.log(`connection ${conn.id}: message type ${body[0]} refused (this agent only lists and signs with the device's keys)`);
          return FAILURE;
      }
    } catch (e) {
      if (!(e instanceof SshFormatError)) throw e;
      this.log(`connection ${conn.id}: malformed message type ${body[0]}: ${e.message}`);
      return FAILURE;
    }
  }

  /** IDENTITIES_ANSWER: uint32 count, then string key blob ‖ string comment each (draft-miller-ssh-agent §4.4). */
  private async identitiesAnswer(): Promise<Uint8Array> {
    // locked: an empty list, as OpenSSH's agent answers (so ssh moves on to other methods)
    if (this.lockState) return new SshWriter().byte(AgentMessage.IDENTITIES_ANSWER).uint32(0).bytes();
    // refresh only when that costs no login and the link is free; otherwise the list from the last refresh
    if (this.loggedIn && !this.touchBusy) {
      try {
        await this.refresh();
      } catch (e) {
        this.log(`listing the device's keys failed (${errorText(e)}); answering the last list`);
      }
    }
    const keys = this.identities;
    const w = new SshWriter().byte(AgentMessage.IDENTITIES_ANSWER).uint32(keys.length);
    for (const k of keys) w.string(k.blob).string(k.comment);
    return w.bytes();
  }

  /** Read the device's Ed25519 and P-256 keys that may sign; one KEY_LIST at a time. */
  private refresh(): Promise<void> {
    if (!this.refreshOp) {
      this.refreshOp = (async () => {
        const list = await this.client.listKeys();
        this.keys = list
          .filter((k) => (k.alg === Alg.ED25519 || k.alg === Alg.ECDSA_P256) && (k.capabilities & Capability.SIGN) !== 0)
          .map((k) => ({
            keyId: k.keyId,
            alg: k.alg,
            publicKey: k.publicKey,
            blob: devicePublicKeyBlob(k.alg, k.publicKey),
            comment: sshComment(k.keyId, k.label),
            touch: k.touch === true,
          }));
      })().finally(() => {
        this.refreshOp = undefined;
      });
    }
    return this.refreshOp;
  }

  private find(blob: Uint8Array): AgentIdentity | undefined {
    return this.keys.find((k) => Buffer.from(k.blob).equals(Buffer.from(blob)));
  }

  /** Log the device in again with the kept PIN (after an idle logout); one LOGIN at a time. */
  private async ensureLogin(): Promise<void> {
    if (this.loggedIn) return;
    if (!this.pin) throw new Error('the agent holds no PIN (locked)');
    if (!this.loginOp) {
      this.loginOp = this.client
        .login('user', this.pin)
        .then(() => {
          this.loggedIn = true;
          this.log('logged the device in again');
        })
        .catch((e) => {
          if (pinRefused(e)) {
            // the PIN changed or blocked on the device: trying it again would only spend tries. Lock instead, with no
            // verifier: UNLOCK then takes a PIN straight to the device (docs/ssh.md "Lock and unlock")
            this.wipe();
            this.lockState = { verifier: Promise.resolve(undefined) };
            this.log(`the device refused the kept PIN (${errorText(e)}); the agent locked itself: unlock it with the PIN (ssh-add -X)`);
          }
          throw e;
        })
        .finally(() => {
          this.loginOp = undefined;
        });
    }
    return this.loginOp;
  }

  /** SIGN_REQUEST: string key blob ‖ string data ‖ uint32 flags (draft-miller-ssh-agent §4.5) → SIGN_RESPONSE string signature. */
  private async signRequest(r: SshReader, conn: AgentConnection): Promise<Uint8Array> {
    const blob = r.string('key blob');
    const data = r.string('data');
    r.uint32('flags'); // SSH_AGENT_RSA_SHA2_256/512 choose an RSA hash; Ed25519 and ECDSA have one signature form each (§4.5.1)
    r.end('SIGN_REQUEST');
    if (this.lockState) {
      this.log(`connection ${conn.id}: sign refused: the agent is locked`);
      return FAILURE;
    }
    if (conn.bindFailed) {
      this.log(`connection ${conn.id}: sign refused: a session-bind on this connection failed`);
      return FAILURE;
    }
    let id = this.find(blob);
    if (!id && !this.touchBusy) {
      // a key made on the device since the last list: look again (logging in if needed)
      try {
        await this.ensureLogin();
        await this.refresh();
      } catch (e) {
        this.log(`connection ${conn.id}: listing the keys failed: ${errorText(e)}`);
      }
      id = this.find(blob);
    }
    if (!id) {
      this.log(`connection ${conn.id}: sign refused: the agent holds no such key (${fingerprint(blob)})`);
      return FAILURE;
    }
    // the link carries one request at a time: a SIGN waiting for a button press would hold every other one for up to
    // 30 s, so the others are refused at once (ssh then tries its next key or method) instead of queued
    if (this.touchBusy) {
      this.log(`connection ${conn.id}: sign with key ${id.keyId} refused: the device waits for a button press for key ${this.touchBusy.keyId}`);
      return FAILURE;
    }
    const key = id;
    const ac = new AbortController();
    this.inFlight.add(ac);
    if (id.touch) this.touchBusy = id;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    try {
      await this.ensureLogin();
      if (this.lockState || ac.signal.aborted) throw new Error('the agent was locked');
      let told = false;
      const signature = await signSsh(this.client, id.keyId, id.alg, id.publicKey, data, {
        signal: ac.signal,
        onKeepalive: (e) => {
          if (!e.presence || told) return;
          told = true;
          this.log(`key ${key.keyId} (${key.comment}): touch the device's button to sign`);
        },
      });
      this.log(`connection ${conn.id}: signed ${data.length} bytes with key ${id.keyId} (${id.comment})`);
      return new SshWriter().byte(AgentMessage.SIGN_RESPONSE).string(signature).bytes();
    } catch (e) {
      this.log(`connection ${conn.id}: sign with key ${id.keyId} failed: ${errorText(e)}`);
      return FAILURE;
    } finally {
      this.inFlight.delete(ac);
      if (this.touchBusy === id) this.touchBusy = undefined;
      this.resetIdle();
    }
  }

  // ---------------------------------------------------------------- idle logout

  private resetIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.idleMs > 0 && !this.closed && !this.lockState) this.idleTimer = setTimeout(() => void this.idleLogout(), this.idleMs);
  }

  /** No SIGN_REQUEST for idleMs: LOGOUT, so the device wipes its unwrapped keys; the next signature logs in again. */
  private async idleLogout(): Promise<void> {
    this.idleTimer = undefined;
    if (this.inFlight.size > 0) return this.resetIdle();
    if (!this.loggedIn || this.lockState) return;
    this.loggedIn = false;
    try {
      await this.client.logout();
      this.log(`no signature for ${Math.round(this.idleMs / 1000)} s: logged the device out; the next signature logs in again`);
    } catch (e) {
      this.log(`idle logout failed: ${errorText(e)}`);
    }
  }

  // ---------------------------------------------------------------- lock and unlock

  /**
   * LOCK (string passphrase): forget the PIN and log the device out. Any passphrase locks (a mistyped one must not
   * leave the agent unlocked); UNLOCK wants the user PIN (docs/ssh.md "Lock and unlock").
   */
  private async lock(r: SshReader): Promise<Uint8Array> {
    r.string('passphrase');
    r.end('LOCK');
    if (this.lockState) return FAILURE; // as OpenSSH's agent: locking a locked agent fails
    const pin = this.pin;
    this.pin = undefined;
    const salt = randomBytes(16);
    // locked from here on: nothing signs, whatever the slow parts below do
    this.lockState = {
      verifier: pin
        ? scryptAsync(pin, salt).then(
            (hash) => ({ salt, hash }),
            () => undefined,
          )
        : Promise.resolve(undefined),
    };
    if (this.idleTimer) clearTimeout(this.idleTimer);
    for (const ac of this.inFlight) ac.abort(new Error('the agent was locked'));
    try {
      await this.lockState.verifier;
    } finally {
      if (pin) pin.fill(0);
    }
    const wasIn = this.loggedIn;
    this.loggedIn = false;
    try {
      if (wasIn) await this.client.logout();
    } catch (e) {
      this.log(`logout at LOCK failed (${errorText(e)}); the device ends the session at its idle timeout`);
    }
    this.log('locked: the PIN is forgotten and the device logged out; unlock with the user PIN (ssh-add -X)');
    return SUCCESS;
  }

  /**
   * UNLOCK (string passphrase): the passphrase is the user PIN. It is checked against the scrypt verifier first, so a
   * wrong one spends no PIN try on the device, then the device logs in with it.
   */
  private async unlock(r: SshReader, conn: AgentConnection): Promise<Uint8Array> {
    const pass = r.string('passphrase');
    r.end('UNLOCK');
    const state = this.lockState;
    if (!state) return FAILURE;
    if (conn.bindings.some((b) => b.forwarding)) {
      this.log(`connection ${conn.id}: unlock refused on a forwarded connection`);
      return FAILURE;
    }
    if (this.unlockBusy) return FAILURE;
    this.unlockBusy = true;
    let pin: Uint8Array | undefined;
    try {
      const v = await state.verifier;
      if (v) {
        const hash = await scryptAsync(pass, v.salt);
        if (!timingSafeEqual(hash, v.hash)) return await this.unlockFailed(conn, 'wrong passphrase (the user PIN unlocks)');
      }
      try {
        pin = pinBytes(pass, 'the user PIN');
      } catch {
        return await this.unlockFailed(conn, 'a user PIN is 6 to 64 bytes');
      }
      try {
        await this.client.login('user', pin);
      } catch (e) {
        return await this.unlockFailed(conn, `the device refused the login: ${errorText(e)}`);
      }
      this.pin = pin;
      pin = undefined;
      this.loggedIn = true;
      this.lockState = undefined;
      this.unlockFailures = 0;
      this.log('unlocked');
      try {
        await this.refresh();
      } catch (e) {
        this.log(`listing the device's keys failed: ${errorText(e)}`);
      }
      this.resetIdle();
      return SUCCESS;
    } finally {
      this.unlockBusy = false;
      pass.fill(0);
      if (pin) pin.fill(0);
    }
  }

  /** A failed unlock answers after a delay that grows with each failure (up to 2 s), as OpenSSH's agent slows guessing. */
  private async unlockFailed(conn: AgentConnection, why: string): Promise<Uint8Array> {
    this.unlockFailures++;
    this.log(`connection ${conn.id}: unlock failed: ${why}; still locked`);
    await sleep(Math.min(this.unlockFailures, 10) * 200);
    return FAILURE;
  }

  // ---------------------------------------------------------------- extensions

  /** EXTENSION: string name, then the extension's contents directly (PROTOCOL.agent, as OpenSSH sends them). */
  private async extension(r: SshReader, conn: AgentConnection): Promise<Uint8Array> {
    const name = r.text('extension name');
    // session-bind is taken while locked too: ssh binds every new connection before it asks anything
    if (name === 'session-bind@openssh.com') return this.sessionBind(r.rest(), conn);
    if (this.lockState) return FAILURE;
    if (name === 'query') {
      r.end('query');
      const w = new SshWriter().byte(AgentMessage.EXTENSION_RESPONSE).string('query');
      for (const n of AGENT_EXTENSIONS) w.string(n);
      return w.bytes();
    }
    // an extension this agent does not know: SSH_AGENT_FAILURE (draft-miller-ssh-agent §4.8; OpenSSH's agent does the
    // same); EXTENSION_FAILURE is for a known extension that failed
    this.log(`connection ${conn.id}: unknown extension "${name}" refused`);
    return FAILURE;
  }

  /** session-bind@openssh.com (PROTOCOL.agent §1): check the host key's signature over the session id, record the binding. */
  private sessionBind(contents: Uint8Array, conn: AgentConnection): Uint8Array {
    const fail = (why: string): Uint8Array => {
      conn.bindFailed = true;
      this.log(`connection ${conn.id}: session-bind refused: ${why}; this connection signs nothing now`);
      return EXTENSION_FAILURE;
    };
    let b;
    try {
      b = parseSessionBind(contents);
    } catch (e) {
      return fail(`malformed (${errorText(e)})`);
    }
    if (b.sessionId.length === 0 || b.sessionId.length > MAX_SESSION_ID) return fail(`a session id of ${b.sessionId.length} bytes`);
    let type: string;
    try {
      type = new SshReader(b.hostKey).text('host key type');
    } catch {
      return fail('the host key has no readable type');
    }
    const fp = fingerprint(b.hostKey);
    const check = verifySshSignature(b.hostKey, b.signature, b.sessionId);
    if (check === 'bad') return fail(`the host key ${fp} did not sign this session id`);
    const sameKey = (x: Uint8Array) => Buffer.from(x).equals(Buffer.from(b.hostKey));
    for (const old of conn.bindings) {
      if (!old.forwarding) return fail('the connection is already bound for authentication');
      if (Buffer.from(old.sessionId).equals(Buffer.from(b.sessionId))) {
        if (sameKey(old.hostKey)) return SUCCESS; // the same binding again
        return fail('this session id is bound to another host key');
      }
    }
    if (conn.bindings.length >= MAX_BINDINGS) return fail(`more than ${MAX_BINDINGS} bindings`);
    const verified = check === 'verified';
    conn.bindings.push({ hostKey: b.hostKey, sessionId: b.sessionId, forwarding: b.forwarding, verified });
    this.log(
      `connection ${conn.id}: session-bind to host key ${fp} (${type}), ${verified ? 'signature verified' : 'UNVERIFIED (a type this agent cannot check; recorded)'}, for ${b.forwarding ? 'forwarding' : 'authentication'}`,
    );
    return SUCCESS;
  }
}
