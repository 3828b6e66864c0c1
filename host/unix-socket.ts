// The unix sockets the host's servers listen on (ssh-agent, connector, pkcs11): a stale socket replaced but never a live one or another file, created owner-only and only then opened to its final mode.
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';

/** Whether something accepts connections on the unix socket at `path`. */
export function socketAlive(path: string): Promise<boolean> {
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
 * Make way for a socket at `path`: nothing there, or a socket nobody serves any more (left by a killed server), which is
 * removed. Throws when `path` is another kind of file, or a socket something still serves (`liveHint` says what to do).
 */
export async function clearStaleSocket(path: string, liveHint: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  if (await socketAlive(path)) throw new Error(`something is already serving ${path}: ${liveHint}`);
  unlinkSync(path);
}

/**
 * `server.listen(path)` with the socket created 0600 whatever the umask (the bind happens inside listen(), so it is never
 * wider, not even for a moment), then chmod-ed to `mode` (0600 for an agent, 0660 for a connector's group).
 */
export async function listenUnix(server: net.Server, path: string, mode: number): Promise<void> {
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(old);
  }
  chmodSync(path, mode);
}

/** Remove the socket file at `path` if it is still one (a server that stops). */
export function removeSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // already gone
  }
}
