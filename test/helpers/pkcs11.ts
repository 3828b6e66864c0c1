// The PKCS#11 server tests' setup (docs/pkcs11.md): a simulator on a socket, the server in this process with a link per connection, and the real programs run against p11-kit-client.so.
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTransport } from '../../host/open-device.ts';
import { Pkcs11Server } from '../../host/pkcs11/server.ts';
import { run, type Ran } from './openssh.ts';
import { spawnSim, type SimProcess } from './sim.ts';

/** Debian's p11-kit client module (p11-kit-modules 0.24.1). */
export const P11_CLIENT = '/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so';

export interface P11Workspace {
  dir: string;
  sim: SimProcess;
  server: Pkcs11Server;
  socket: string;
  /** The environment that points p11-kit-client.so at the server. */
  env: NodeJS.ProcessEnv;
  /** The server's log lines so far. */
  logs: string[];
  /** Links the server opened (one per RPC connection that called C_Initialize). */
  linksOpened(): number;
  /** pkcs11-tool with the client module and the environment. */
  tool(args: string[]): Promise<Ran>;
  close(): Promise<void>;
}

/**
 * A simulator on a socket (initialized with the test PINs, label "test") and the server on a socket beside it, in a
 * fresh directory only this user can enter. `dirMode` opens the directory for tools that run as another reader (sshd).
 */
export async function p11Workspace(prefix: string, opts: { ecdsaOnly?: boolean; dirMode?: number } = {}): Promise<P11Workspace> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (opts.dirMode !== undefined) chmodSync(dir, opts.dirMode);
  const sim = await spawnSim(['--socket', join(dir, 'sim.sock')]);
  const logs: string[] = [];
  let links = 0;
  const server = new Pkcs11Server({
    openLink: () => {
      links++;
      return openTransport(sim.device);
    },
    clientOptions: { trust: true },
    ecdsaOnly: opts.ecdsaOnly,
    cachePath: join(dir, 'cache.json'),
    log: (l) => logs.push(l),
  });
  const socket = join(dir, 'p11.sock');
  await server.listen(socket);
  const env = { ...process.env, P11_KIT_SERVER_ADDRESS: `unix:path=${socket}` };
  return {
    dir,
    sim,
    server,
    socket,
    env,
    logs,
    linksOpened: () => links,
    tool: (args) => run('pkcs11-tool', ['--module', P11_CLIENT, ...args], { env, timeoutMs: 30_000 }),
    async close() {
      await server.close();
      await sim.stop();
    },
  };
}
