// Serial transport: a board's USB CDC port or the simulator's pty, opened with serialport's native binding (raw binary frames or the text armor).
//
// Why the binding and not serialport's SerialPort stream: the stream adds a Duplex layer (buffering, nextTick
// hops) on every read and write, about 100 µs of a ~500 µs round trip over a pty. The binding is the same
// native code SerialPort itself uses to open, configure, read and write the port, so a pty or a board is opened
// exactly as serialport opens it.
import { readSync, writeSync } from 'node:fs';
import { autoDetect } from '@serialport/bindings-cpp';
import { HsmError } from '../errors.ts';
import type { HostTransport } from './types.ts';

type Port = Awaited<ReturnType<ReturnType<typeof autoDetect>['open']>>;

export interface SerialOptions {
  /** Default 115200 (USB CDC ignores it; a hardware UART needs it to match). */
  baudRate?: number;
  /** 'armor' for Kaluma boards (their REPL owns USB CDC), 'binary' otherwise. */
  mode?: 'binary' | 'armor';
}

function openError(path: string, e: NodeJS.ErrnoException | Error): HsmError {
  const msg = e.message || String(e);
  if (/ENOENT|No such file/i.test(msg)) return new HsmError('NO_DEVICE', `${path} does not exist`, { cause: e });
  if (/EACCES|Permission denied/i.test(msg))
    return new HsmError('IO', `permission denied opening ${path}`, {
      hint: 'add yourself to the group that owns the port (dialout or uucp) and log in again',
      cause: e,
    });
  if (/lock|EBUSY|Resource temporarily unavailable/i.test(msg))
    return new HsmError('IO', `${path} is in use by another program`, { hint: 'close the other program (a terminal, another tinyhsm) and retry', cause: e });
  return new HsmError('IO', `cannot open ${path}: ${msg}`, { cause: e });
}

export class SerialTransport implements HostTransport {
  readonly mode: 'binary' | 'armor';
  readonly description: string;
  private receiver: (b: Uint8Array) => void = () => {};
  private closeCb: ((reason?: Error) => void) | undefined;
  private closing = false;

  private constructor(
    private readonly port: Port,
    path: string,
    mode: 'binary' | 'armor',
  ) {
    this.mode = mode;
    this.description = path;
    void this.readLoop();
  }

  /** Open `path` raw: 8N1, no flow control, no echo, an exclusive lock (serialport's defaults). */
  static async open(path: string, opts: SerialOptions = {}): Promise<SerialTransport> {
    let port: Port;
    try {
      port = await autoDetect().open({ path, baudRate: opts.baudRate || 115200 });
    } catch (e) {
      throw openError(path, e as Error);
    }
    return new SerialTransport(port, path, opts.mode === 'armor' ? 'armor' : 'binary');
  }

  /** The unix binding's non-blocking fd and readiness poller, when present (Linux, macOS; not Windows). */
  private unixFd(): { fd: number; poller: { once(ev: 'readable', cb: (err: Error | null) => void): unknown } } | undefined {
    const p = this.port as unknown as { fd?: unknown; poller?: { once?: unknown } };
    return typeof p.fd === 'number' && p.poller && typeof p.poller.once === 'function' ? (p as never) : undefined;
  }

  /**
   * Read until closed; a read error other than our own close means the other end went away.
   * On unix the binding opens the port O_NONBLOCK and polls it for readiness; reading the fd right here when
   * it is readable saves the thread-pool hop the binding's read() takes for every chunk (~100 us on a pty).
   */
  private async readLoop(): Promise<void> {
    const buf = Buffer.alloc(4096);
    const unix = this.unixFd();
    // After a read that did not fill the buffer the fd is most likely drained (an answer is one frame, read in one
    // piece): the loop then waits for readiness before it reads again. Reading first would cost, on every request, a
    // read(2) that fails with EAGAIN and the exception Node builds for it (12 µs measured on a pty). The poll is
    // level-triggered (libuv's epoll), so bytes already waiting make it fire at once.
    let drained = false;
    while (!this.closing) {
      let n: number;
      try {
        if (unix) {
          if (drained) await new Promise<void>((resolve, reject) => unix.poller.once('readable', (err) => (err ? reject(err) : resolve())));
          if (this.closing) return;
          try {
            n = readSync(unix.fd, buf, 0, buf.length, null);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EAGAIN' && (e as NodeJS.ErrnoException).code !== 'EWOULDBLOCK') throw e;
            n = 0;
          }
          drained = n < buf.length;
          if (n === 0) continue;
        } else n = (await this.port.read(buf, 0, buf.length)).bytesRead;
      } catch (e) {
        if (!this.closing && this.closeCb) this.closeCb(new Error(`${this.description} closed: ${(e as Error).message}`));
        return;
      }
      if (n > 0 && !this.closing) this.receiver(Uint8Array.prototype.slice.call(buf, 0, n));
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.closing || !this.port.isOpen) throw new HsmError('CLOSED', `${this.description} is closed`);
    let data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    try {
      // a frame usually fits the driver's buffer at once: write it here, and hand only a rest to the binding
      const unix = this.unixFd();
      if (unix) {
        try {
          data = data.subarray(writeSync(unix.fd, data));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EAGAIN' && (e as NodeJS.ErrnoException).code !== 'EWOULDBLOCK') throw e;
        }
      }
      if (data.length > 0) await this.port.write(data);
    } catch (e) {
      throw new HsmError('IO', `write to ${this.description} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Synchronous write on the unix fd (HostTransport.writeSync: the last SESSION_CLOSE at exit). Throws where there is none. */
  writeSync(bytes: Uint8Array): void {
    const unix = this.unixFd();
    if (this.closing || !this.port.isOpen || !unix) throw new HsmError('CLOSED', `${this.description} cannot be written synchronously`);
    let data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // a frame fits the tty buffer; a short write or EAGAIN loses the rest, which the device drops as a bad frame
    for (let tries = 0; data.length > 0 && tries < 8; tries++) {
      try {
        data = data.subarray(writeSync(unix.fd, data));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN' && (e as NodeJS.ErrnoException).code !== 'EWOULDBLOCK') throw e;
      }
    }
  }

  onData(cb: (b: Uint8Array) => void): void {
    this.receiver = cb;
  }

  onClose(cb: (reason?: Error) => void): void {
    this.closeCb = cb;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (!this.port.isOpen) return;
    await this.port.close().catch(() => {});
  }
}
