// The PKCS#11 server: a Unix socket speaking p11-kit's RPC protocol (version 0), one PKCS#11 application per connection, each with its own device link (docs/pkcs11.md §1, §3, §5).
import { statSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import type { ClientOptions } from '../client.ts';
import { clearStaleSocket, listenUnix, removeSocket } from '../unix-socket.ts';
import type { HostTransport } from '../transports/types.ts';
import { CKR, ckrName } from './constants.ts';
import { Pkcs11Module } from './module.ts';
import { PublicCache } from './cache.ts';
import { FrameReader, decodeRequest, encodeError, encodeFrame, negotiateVersion } from './rpc.ts';

export interface Pkcs11ServerOptions {
  /** Opens one device link per RPC connection (default in the CLI: the device string, host/open-device.ts openTransport). */
  openLink(): Promise<HostTransport>;
  clientOptions?: ClientOptions;
  ecdsaOnly?: boolean;
  /** The public-object cache file; null: no cache (nothing is listed before login). */
  cachePath?: string | null;
  /** Connections served at once; more are closed at once. Default 16. */
  maxConnections?: number;
  /** One line per event; never a PIN or key bytes. */
  log?: (line: string) => void;
}

/**
 * The directory a socket goes in must be this user's and closed to others: whoever can connect to the socket can use the
 * device with the PIN they know, and whoever can write the directory can replace the socket (docs/pkcs11.md §1).
 */
export function checkSocketDirectory(path: string): string | undefined {
  const dir = dirname(path);
  let st;
  try {
    st = statSync(dir);
  } catch {
    return `the directory ${dir} does not exist`;
  }
  if (!st.isDirectory()) return `${dir} is not a directory`;
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) return `the directory ${dir} belongs to another user (uid ${st.uid})`;
  if ((st.mode & 0o022) !== 0)
    return `the directory ${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)}): use a directory only you can write, e.g. $XDG_RUNTIME_DIR`;
  return undefined;
}

export class Pkcs11Server {
  private server: net.Server | undefined;
  private socketPath: string | undefined;
  private readonly conns = new Set<net.Socket>();
  private readonly modules = new Set<Pkcs11Module>();
  private nextConn = 1;
  private closed = false;
  private readonly log: (line: string) => void;
  readonly cache: PublicCache | undefined;
  /** The protocol version each connection offered, in order (p11-kit-client 0.24 offers 0; docs/pkcs11.md §3). */
  readonly versionsOffered: number[] = [];

  constructor(private readonly opts: Pkcs11ServerOptions) {
    this.log = opts.log || (() => {});
    this.cache = opts.cachePath ? new PublicCache(opts.cachePath, this.log) : undefined;
  }

  /** Serve on a Unix socket at `path` (mode 0600, in a directory checkSocketDirectory accepts); a stale socket is replaced. */
  async listen(path: string): Promise<void> {
    const bad = checkSocketDirectory(path);
    if (bad) throw new Error(`refusing to serve on ${path}: ${bad}`);
    await clearStaleSocket(path, 'another pkcs11 server? stop it or choose another --socket');
    const server = net.createServer((socket) => this.serve(socket));
    server.maxConnections = this.opts.maxConnections || 16;
    await listenUnix(server, path, 0o600);
    server.on('error', (e) => this.log(`socket error: ${e.message}`));
    this.server = server;
    this.socketPath = path;
  }

  /** Serve one connection (a socket the listener accepted, or any duplex a test hands in). */
  serve(socket: net.Socket): void {
    const id = this.nextConn++;
    const log = (line: string) => this.log(`connection ${id}: ${line}`);
    const module = new Pkcs11Module({
      openLink: this.opts.openLink,
      clientOptions: this.opts.clientOptions,
      ecdsaOnly: this.opts.ecdsaOnly,
      cache: this.cache,
      log,
    });
    this.conns.add(socket);
    this.modules.add(module);
    const frames = new FrameReader();
    let negotiated = false;
    let queue = Promise.resolve();
    let ended = false;
    const end = (why?: string) => {
      if (ended) return;
      ended = true;
      if (why) log(`${why}; connection closed`);
      socket.destroy();
    };
    socket.on('error', () => {
      // the client went away: 'close' follows
    });
    socket.on('close', () => {
      ended = true;
      this.conns.delete(socket);
      // the application is gone: its device session and link end with it, after any call still running
      queue = queue.then(async () => {
        await module.close();
        this.modules.delete(module);
      });
    });
    socket.on('data', (chunk: Buffer) => {
      let data: Uint8Array = chunk;
      if (!negotiated) {
        // p11-kit's version byte (rpc-transport.c rpc_transport_authenticate): we speak version 0 and say so
        negotiated = true;
        const offered = data[0];
        this.versionsOffered.push(offered);
        const answer = negotiateVersion(offered);
        if (offered !== answer) log(`the client offered protocol version ${offered}; answering ${answer}`);
        socket.write(Uint8Array.of(answer));
        data = data.subarray(1);
      }
      for (const frame of frames.push(data)) {
        queue = queue.then(async () => {
          if (ended) return;
          const req = decodeRequest(frame.body);
          let reply: Uint8Array;
          if (!req.ok) {
            // a wrong call id or signature: p11-kit's server drops the connection; a malformed argument: CKR_DEVICE_ERROR
            if (req.fatal) return end(`unusable message: ${req.error}`);
            log(`malformed request: ${req.error} → ${ckrName(CKR.DEVICE_ERROR)}`);
            reply = encodeError(CKR.DEVICE_ERROR);
          } else reply = await module.handle(req.value);
          // the body may hold a PIN (C_Login): gone once answered
          frame.body.fill(0);
          if (!ended) socket.write(encodeFrame(frame.code, reply));
        });
      }
      if (frames.error) end(frames.error);
      // FrameReader copied what it keeps; this chunk may hold a PIN
      chunk.fill(0);
    });
  }

  /** Stop: close the socket and every connection (each closes its device link), remove the socket file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.conns) s.destroy();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    for (const m of this.modules) await m.close();
    if (this.socketPath) removeSocket(this.socketPath);
  }
}
