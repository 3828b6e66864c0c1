// `tinyhsm connector --socket PATH --device DEV [--tcp 127.0.0.1:PORT] [--group NAME]`: one device shared by many clients until SIGINT/SIGTERM (docs/connector.md); tools/cli.ts dispatches to it.
import { resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { HsmError } from '../host/errors.ts';
import { Connector } from '../host/connector/connector.ts';
import { groupId, listenConnector, parseLoopback } from '../host/connector/server.ts';
import { argsErrorText } from '../sim/args.ts';

export const CONNECTOR_USAGE = `usage: tinyhsm connector --socket PATH --device DEV [--tcp 127.0.0.1:PORT] [--group NAME] [--quiet]

Owns one device and lets many programs use it at once, as pcscd does for smart cards: each request goes to
the device in turn (FIFO), sessions stay end to end between each program and the device (the connector
sees no PIN and no session key), and a device that is unplugged is opened again when it comes back.
Clients open it with --device connector:PATH or HSM_DEVICE=connector:PATH (docs/connector.md).
  --socket PATH    the unix socket clients open; created mode 0660 (owner and group). A stale socket file is
                   replaced; a live socket or any other file is not
  --device DEV     the device: a serial port, armor:PATH (Kaluma), a simulator's pty or unix:PATH
  --tcp HOST:PORT  also listen on TCP; HOST must be a loopback address (127.0.0.1, [::1]); port 0 picks one
  --group NAME     give the socket to this group (name or number), so its members may use the device
  --quiet          no log lines on standard error (device opened, went away, came back)

Standard output: one JSON line once it listens, {"socket": PATH} (with "tcp": "HOST:PORT" when asked), so
scripts can wait for it. Exit status: 0 when stopped by SIGTERM or SIGHUP, 130 by SIGINT (Ctrl-C), 1 when it
cannot run (no device at DEV, a socket path in use, a group it may not give the socket to), 2 for a usage mistake.
With --json an error is one {"error": {"status", "message"}} object on standard error.

examples:
  tinyhsm connector --socket /tmp/hsm.sock --device /dev/ttyACM0 &
  HSM_DEVICE=connector:/tmp/hsm.sock tinyhsm list
  tinyhsm connector --socket /run/tinyhsm/hsm.sock --device armor:/dev/ttyACM0 --group tinyhsm --tcp 127.0.0.1:12345`;

const OPTIONS = {
  socket: { type: 'string' },
  device: { type: 'string' },
  tcp: { type: 'string' },
  group: { type: 'string' },
  quiet: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

let jsonErrors = false;

/** Stop with an error (exit codes as README "Using the CLI": 2 a usage mistake, 1 what failed). */
function fail(message: string, code = 2, status = code === 2 ? 'USAGE' : 'ERROR'): number {
  process.stderr.write(jsonErrors ? JSON.stringify({ error: { status, message } }) + '\n' : `tinyhsm connector: ${message}\n`);
  process.exitCode = code;
  return code;
}

/** Run the connector until a signal; resolves with the exit code once the socket is removed and the device closed. */
export async function runConnectorCommand(argv: string[]): Promise<number> {
  jsonErrors = argv.includes('--json');
  let values;
  try {
    values = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true }).values;
  } catch (e) {
    return fail(argsErrorText(e, Object.keys(OPTIONS), 'tinyhsm connector --help'));
  }
  if (values.help) {
    process.stdout.write(CONNECTOR_USAGE + '\n');
    return 0;
  }
  if (values.socket === undefined || values.socket === '') return fail('--socket PATH is required: the unix socket clients open, e.g. --socket /tmp/hsm.sock');
  if (values.device === undefined || values.device === '')
    return fail('--device DEV is required: a serial port (/dev/ttyACM0), armor:PATH, a simulator pty or unix:PATH');
  if (values.device.startsWith('connector:')) return fail(`--device ${values.device} is a connector; give the device itself`);
  let tcp: { host: string; port: number } | undefined;
  if (values.tcp !== undefined) {
    const t = parseLoopback(values.tcp);
    if (typeof t === 'string') return fail(t);
    tcp = t;
  }
  let gid: number | undefined;
  if (values.group !== undefined) {
    const g = groupId(values.group);
    if (typeof g === 'string') return fail(g);
    gid = g;
  }
  const socket = resolvePath(values.socket);
  const log = values.quiet ? undefined : (line: string) => process.stderr.write(`tinyhsm connector: ${line}\n`);
  let connector: Connector;
  try {
    connector = await Connector.start({ device: values.device, log });
  } catch (e) {
    const status = e instanceof HsmError ? e.code : 'ERROR';
    return fail(`cannot open the device: ${(e as Error).message}`, 1, status);
  }
  let listening;
  try {
    listening = await listenConnector(connector, { socket, tcp, gid });
  } catch (e) {
    await connector.close();
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'EPERM' && gid !== undefined ? `cannot give ${socket} to group ${values.group}: you are not a member of it` : err.message;
    return fail(why, 1);
  }
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => resolve(sig));
  });
  process.stdout.write(JSON.stringify(listening.tcp !== undefined ? { socket, tcp: listening.tcp } : { socket }) + '\n');
  const sig = await stopped;
  await connector.close();
  await listening.close();
  const code = sig === 'SIGINT' ? 130 : 0;
  process.exitCode = code;
  return code;
}
