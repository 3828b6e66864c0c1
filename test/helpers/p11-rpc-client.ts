// A p11-kit RPC client in TypeScript for the server's tests (docs/pkcs11.md §3): the version byte, frames with call codes, and requests and answers through host/pkcs11/rpc.ts, including what p11-kit-client.so will not send (CKM_EDDSA, malformed messages).
import net from 'node:net';
import { CKR, callId } from '../../host/pkcs11/constants.ts';
import { FrameReader, decodeResponse, encodeFrame, encodeRequest, type InArg, type ResponseArg } from '../../host/pkcs11/rpc.ts';

export interface Answer {
  /** CKR_OK for a filled answer, else the error reply's CK_RV. */
  rv: number;
  args: ResponseArg[];
}

export class P11RpcClient {
  private frames = new FrameReader();
  private waiting = new Map<number, (body: Uint8Array | undefined) => void>();
  private code = 0x10;
  closed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiting.values()) w(undefined);
      this.waiting.clear();
    });
    socket.on('error', () => {});
  }

  /** Connect, offer `version`, and resolve with the version the server answered. */
  static connect(path: string, version = 0): Promise<{ client: P11RpcClient; version: number }> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path, () => s.write(Uint8Array.of(version)));
      s.once('error', reject);
      s.once('data', (d: Buffer) => {
        const c = new P11RpcClient(s);
        s.on('data', (chunk: Buffer) => {
          for (const f of c.frames.push(chunk)) {
            const w = c.waiting.get(f.code);
            c.waiting.delete(f.code);
            if (w) w(f.body);
          }
        });
        if (d.length > 1) s.emit('data', d.subarray(1));
        resolve({ client: c, version: d[0] });
      });
    });
  }

  /** Send a raw message body; resolves with the answer body, or undefined when the server closed the connection. */
  raw(body: Uint8Array): Promise<Uint8Array | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    const code = this.code++;
    return new Promise((resolve) => {
      this.waiting.set(code, resolve);
      this.socket.write(encodeFrame(code, body));
    });
  }

  /** Write bytes as they are (frames the test builds itself). */
  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  async call(name: string, args: InArg[] = []): Promise<Answer> {
    const body = await this.raw(encodeRequest(callId(name), args));
    if (!body) throw new Error(`${name}: the server closed the connection`);
    const d = decodeResponse(body);
    if (!d.ok) throw new Error(`${name}: undecodable answer: ${d.error}`);
    return { rv: d.value.rv === undefined ? CKR.OK : Number(d.value.rv), args: d.value.args };
  }

  close(): void {
    this.socket.destroy();
  }
}

/** C_Initialize's arguments as p11-kit-client.so sends them: the handshake string, no reserved data. */
export function initArgs(): InArg[] {
  return [
    { t: 'ay', v: Buffer.from('PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1', 'latin1') },
    { t: 'y', v: 0 },
    { t: 'ay', v: null },
  ];
}
