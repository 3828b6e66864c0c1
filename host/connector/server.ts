// Serves a Connector on a unix socket (mode 0660, optionally given to a group) and, if asked, a loopback TCP port (docs/connector.md §8).
import { chmodSync, chownSync, readFileSync } from 'node:fs';
import { clearStaleSocket, listenUnix, removeSocket } from '../unix-socket.ts';
import net from 'node:net';
import type { Connector } from './connector.ts';

export interface ListenOptions {
  /** The unix socket path clients open as `connector:PATH`. */
  socket: string;
  /** A loopback address and port (`127.0.0.1:PORT`, `[::1]:PORT`; port 0 picks a free one). */
  tcp?: { host: string; port: number };
  /** The group id the socket is given (its members may use the device). */
  gid?: number;
}

export interface Listening {
  readonly socket: string;
  /** `HOST:PORT` actually bound, when TCP was asked for. */
  readonly tcp?: string;
  close(): Promise<void>;
}

/** A client that reads nothing while this much waits to be written to it is cut off (its KEEPALIVEs pile up). */
const MAX_PENDING_WRITE = 1 << 20;

/** `HOST:PORT` with HOST a loopback address, or a sentence saying what is wrong. */
export function parseLoopback(spec: string): { host: string; port: number } | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(spec);
  if (!m) return `--tcp takes HOST:PORT with a loopback HOST, e.g. 127.0.0.1:12345 or [::1]:12345, got "${spec}"`;
  const host = m[1] !== undefined ? m[1] : m[2];
  const port = Number(m[3]);
  if (port > 65535) return `--tcp port must be 0..65535, got ${m[3]}`;
  const loopback = (net.isIPv4(host) && host.startsWith('127.')) || (net.isIPv6(host) && /^(0*:){2,7}0*1$|^::1$/.test(host));
  if (!loopback)
    return `--tcp listens on a loopback address only (127.0.0.1 or ::1), not "${host}": anyone who reaches the port may use the device; forward it with ssh if you need it elsewhere`;
  return { host, port };
}

/** A group name (or number) to its id, from /etc/group; a sentence when there is no such group. */
export function groupId(name: string): number | string {
  if (/^\d+$/.test(name)) return Number(name);
  let text: string;
  try {
    text = readFileSync('/etc/group', 'utf8');
  } catch (e) {
    return `cannot read /etc/group to find group "${name}": ${(e as Error).message}; give its number instead`;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 3 && /^\d+$/.test(f[2])) return Number(f[2]);
  }
  return `no group "${name}" in /etc/group`;
}

function attachSocket(connector: Connector, sock: net.Socket): void {
  sock.on('error', () => {
    // a client that vanished: 'close' follows
  });
  const handle = connector.serve(
    (b) => {
      if (sock.destroyed) return;
      if (sock.writableLength > MAX_PENDING_WRITE) return void sock.destroy();
      sock.write(b);
    },
    () => sock.destroy(),
  );
  if (!handle) return void sock.destroy(); // full or closing
  sock.on('data', (chunk: Buffer) => handle.data(chunk));
  sock.on('close', () => handle.gone());
}

function listenOn(server: net.Server, args: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(args, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Listen for clients of `connector`; resolves once the socket has its final mode (0660) and group. */
export async function listenConnector(connector: Connector, opts: ListenOptions): Promise<Listening> {
  await clearStaleSocket(opts.socket, 'another connector? stop it or choose another --socket path');
  const unix = net.createServer((s) => attachSocket(connector, s));
  // owner-only until the group below is set, then 0660: never wider, not even for a moment
  await listenUnix(unix, opts.socket, 0o600);
  const servers: net.Server[] = [unix];
  const closeAll = async () => {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    removeSocket(opts.socket);
  };
  try {
    if (opts.gid !== undefined) chownSync(opts.socket, -1, opts.gid);
    chmodSync(opts.socket, 0o660);
    let tcp: string | undefined;
    if (opts.tcp) {
      const t = net.createServer((s) => attachSocket(connector, s));
      servers.push(t);
      await listenOn(t, { host: opts.tcp.host, port: opts.tcp.port });
      const a = t.address() as net.AddressInfo;
      tcp = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    }
    let closed = false;
    return {
      socket: opts.socket,
      tcp,
      async close() {
        if (closed) return;
        closed = true;
        await closeAll();
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
