// Puts a simulator on a real link: the master side of a pseudo-terminal (fd from sim/pty-launch.py) or a unix socket server.
import { chmodSync, closeSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import tty from 'node:tty';
import type { Simulator } from './simulator.ts';

/** A simulator served on a link; `address` is what a client opens. */
export interface Exposure {
  readonly kind: 'pty' | 'socket';
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Serve the simulator on the pty master `fd` (the slave, `path`, is what serialport opens).
 * Reads arrive in whole chunks from libuv (no polling, no per-byte callbacks) and go straight to the device.
 * `keepOpenFd` is the slave fd the launcher keeps open so master reads never see EIO between clients.
 */
export function servePty(sim: Simulator, fd: number, path: string, keepOpenFd?: number): Exposure {
  if (!tty.isatty(fd)) throw new Error(`fd ${fd} is not a terminal: --pty-child is internal to \`tinyhsm sim --pty\`, run that instead`);
  const stream = new tty.ReadStream(fd);
  let closed = false;
  stream.on('data', (chunk: Buffer) => {
    if (!closed && !sim.isClosed) sim.write(chunk);
  });
  stream.on('error', (e: NodeJS.ErrnoException) => {
    // EIO would mean every slave fd closed; the launcher keeps one open, so this is unexpected but not fatal
    if (!closed) process.stderr.write(`tinyhsm sim: pty read error: ${e.message}\n`);
  });
  const off = sim.onData((bytes) => {
    if (!closed) stream.write(bytes);
  });
  return {
    kind: 'pty',
    address: path,
    async close() {
      if (closed) return;
      closed = true;
      off();
      stream.destroy();
      if (keepOpenFd !== undefined) {
        try {
          closeSync(keepOpenFd);
        } catch {
          // already closed
        }
      }
    },
  };
}

/** How long a second socket client waits for the first to disconnect before it is refused. */
const GRACE_MS = 300;

/** Whether something answers on a unix socket path. */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Serve the simulator on a unix socket, one client at a time (a second client is refused, as a second
 * open of a serial port would be). The socket is made owner-only (0600): whoever can connect can use the keys.
 */
export async function serveSocket(sim: Simulator, path: string): Promise<Exposure> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    st = undefined;
  }
  if (st) {
    if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
    if (await socketAlive(path)) throw new Error(`another process is already serving ${path}; stop it or choose another --socket path`);
    unlinkSync(path); // a stale socket left by a simulator that was killed
  }
  let client: net.Socket | undefined;
  let waiting: { sock: net.Socket; timer: NodeJS.Timeout } | undefined;
  const delimiter = sim.linkMode === 'binary' ? 0x00 : 0x0a;
  const adopt = (sock: net.Socket) => {
    client = sock;
    // a delimiter flushes whatever half frame a previous client left in the device's reader
    sim.write(Uint8Array.of(delimiter));
    sock.on('data', (chunk: Buffer) => {
      if (!sim.isClosed) sim.write(chunk);
    });
    sock.resume(); // a client that waited was paused, and a 'data' listener does not undo an explicit pause
    sock.on('close', () => {
      if (client !== sock) return;
      client = undefined;
      if (waiting) {
        clearTimeout(waiting.timer);
        const next = waiting.sock;
        waiting = undefined;
        if (!next.destroyed) adopt(next);
      }
    });
  };
  const server = net.createServer((sock) => {
    sock.on('error', () => {
      // a client that vanished: 'close' follows
    });
    if (!client) return adopt(sock);
    if (waiting) return void sock.destroy();
    // One client at a time. A client that has just closed may not have reached us yet (its close and the
    // next client's connect race), so a newcomer waits briefly for the current one to go before it is refused.
    sock.pause();
    waiting = {
      sock,
      timer: setTimeout(() => {
        if (waiting && waiting.sock === sock) waiting = undefined;
        sock.destroy();
      }, GRACE_MS),
    };
  });
  const off = sim.onData((bytes) => {
    if (client && !client.destroyed) client.write(bytes);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  let closed = false;
  return {
    kind: 'socket',
    address: path,
    async close() {
      if (closed) return;
      closed = true;
      off();
      if (waiting) {
        clearTimeout(waiting.timer);
        waiting.sock.destroy();
        waiting = undefined;
      }
      if (client) client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      try {
        unlinkSync(path);
      } catch {
        // already gone (server.close removes it on some platforms)
      }
    },
  };
}
