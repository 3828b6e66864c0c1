// `tinyhsm pkcs11`: serves the device to every PKCS#11 program through p11-kit-client.so (docs/pkcs11.md); tools/cli.ts dispatches to it.
import { resolve as resolvePath } from 'node:path';
import { openTransport } from '../host/open-device.ts';
import { discoverDevices } from '../host/discovery.ts';
import { Connector } from '../host/connector/connector.ts';
import { HsmError } from '../host/errors.ts';
import { DAEMON_CHILD, StopRefused, detachSelf, quietAfterReady, shellWord, stopDaemon, untilStopped } from './daemon.ts';
import { defaultCachePath } from '../host/pkcs11/cache.ts';
import { Pkcs11Server, checkSocketDirectory } from '../host/pkcs11/server.ts';

/** The options of tools/cli.ts this command reads. */
export interface Pkcs11Opts {
  device?: string;
  trust?: boolean;
  json?: boolean;
  socket?: string;
  cache?: string;
  'ecdsa-only'?: boolean;
  foreground?: boolean;
  kill?: boolean;
}

export interface Pkcs11CliHelpers {
  usage(message: string): Error;
  /** An operation that failed (exit 1); `status` names it. */
  failure(status: string, message: string): Error;
  /** Aborted by Ctrl-C (tools/cli.ts main). */
  interrupt: AbortSignal | undefined;
}

/**
 * `tinyhsm pkcs11 --socket PATH [--device DEV] [--ecdsa-only] [--cache FILE]`: serve until SIGINT, SIGTERM or SIGHUP,
 * then remove the socket. Prints the lines `p11-kit server` prints, for `eval`.
 */
export async function pkcs11Command(positionals: string[], opts: Pkcs11Opts, h: Pkcs11CliHelpers): Promise<never> {
  if (positionals.length > 0) throw h.usage(`pkcs11 takes no arguments (got "${positionals[0]}")`);
  if (opts.kill) {
    // as `p11-kit server -k`: stop the server P11_KIT_SERVER_PID names, print what `eval` takes to forget it
    try {
      await stopDaemon('pkcs11', 'P11_KIT_SERVER_PID');
    } catch (e) {
      if (e instanceof StopRefused) throw e.usage ? h.usage(e.message) : h.failure('PKCS11', e.message);
      throw e;
    }
    process.stdout.write('unset P11_KIT_SERVER_ADDRESS;\nunset P11_KIT_SERVER_PID;\n');
    process.exit(0);
  }
  if (opts.socket === undefined || opts.socket === '')
    throw h.usage('--socket PATH is required (a path in a directory only you can write, e.g. $XDG_RUNTIME_DIR/tinyhsm.p11)');
  const socket = resolvePath(opts.socket);
  const device = opts.device !== undefined && opts.device !== '' ? opts.device : process.env.HSM_DEVICE || undefined;
  if (device === 'sim')
    throw h.usage('--device sim would give every connection its own empty simulator; run `tinyhsm sim --socket PATH` and pass --device unix:PATH');
  const child = process.env[DAEMON_CHILD] === '1';
  if (!opts.foreground && !child) {
    // as `p11-kit server`: start detached, print what `eval` takes, return (docs/pkcs11.md §1)
    const args = ['pkcs11', '--foreground', '--socket', socket];
    if (device !== undefined) args.push('--device', device);
    if (opts.trust) args.push('--trust');
    if (opts.cache !== undefined) args.push('--cache', resolvePath(opts.cache));
    if (opts['ecdsa-only']) args.push('--ecdsa-only');
    if (opts.json) args.push('--json');
    const out = await detachSelf({ args, ready: (line) => opts.json === true || line.startsWith('P11_KIT_SERVER_PID=') });
    process.stdout.write(out.join('\n') + '\n');
    process.exit(0);
  }
  let logging = true;
  const log = (line: string) => {
    if (logging) process.stderr.write(`tinyhsm pkcs11: ${line}\n`);
  };
  // Each connection has its own link: one PKCS#11 application, one device session, no shared login (docs/pkcs11.md §5).
  // A device that is not a connector already is shared through one in this process (docs/connector.md), so two
  // applications at once each get a link instead of the second finding the port in use.
  const badDirectory = checkSocketDirectory(socket);
  if (badDirectory) throw new Error(`refusing to serve on ${socket}: ${badDirectory}`);
  let connector: Connector | undefined;
  if (device === undefined || !device.startsWith('connector:')) {
    let target = device;
    if (target === undefined) {
      const found = await discoverDevices();
      if (found.length === 0)
        throw new HsmError('NO_DEVICE', 'no device given and no tinyhsm found on the serial ports', {
          hint: 'pass --device PATH or set HSM_DEVICE (a serial port, a pty from `tinyhsm sim --pty`, unix:PATH, or connector:PATH)',
        });
      target = found[0].linkMode === 'armor' ? `armor:${found[0].path}` : found[0].path;
    }
    connector = await Connector.start({ device: target, log: (line) => log(`connector: ${line}`) });
  }
  const shared = connector;
  const server = new Pkcs11Server({
    openLink: shared ? async () => shared.attach() : () => openTransport(device),
    clientOptions: { trust: opts.trust === true },
    ecdsaOnly: opts['ecdsa-only'] === true,
    cachePath: opts.cache !== undefined ? resolvePath(opts.cache) : defaultCachePath(),
    log,
  });
  try {
    await server.listen(socket);
  } catch (e) {
    if (connector) await connector.close();
    throw e;
  }
  const address = `unix:path=${socket}`;
  // the lines `p11-kit server` prints for a Bourne shell (p11-kit/server.c), for `eval`
  process.stdout.write(
    opts.json
      ? JSON.stringify({ P11_KIT_SERVER_ADDRESS: address, P11_KIT_SERVER_PID: process.pid, cache: server.cache?.path ?? null }) + '\n'
      : `P11_KIT_SERVER_ADDRESS=${shellWord(address)}; export P11_KIT_SERVER_ADDRESS;\nP11_KIT_SERVER_PID=${process.pid}; export P11_KIT_SERVER_PID;\n`,
  );
  log(
    `serving ${device ?? 'the first device discovery finds'} on ${socket}${opts['ecdsa-only'] ? ' (ECDSA keys only)' : ''}; public-object cache ${server.cache?.path}`,
  );
  if (child) {
    // the `tinyhsm pkcs11` that started this process stops reading now: nothing more goes to its pipes
    logging = false;
    quietAfterReady();
  }
  const why = await untilStopped(h.interrupt);
  log(`${why}: stopping; removing ${socket}`);
  await server.close();
  if (connector) await connector.close();
  // the address line was printed at start; main() must not print a second result
  process.exit(0);
}
