// Starting a long-running command (ssh-agent, pkcs11) detached, as ssh-agent(1) and `p11-kit server` do: the CLI runs itself again with --foreground in a new session, passes on the lines it prints for `eval`, and returns.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Set in the environment of the re-executed process, so it knows its stdout is read only until it is ready. */
export const DAEMON_CHILD = 'TINYHSM_DAEMON_CHILD';

export interface DetachOptions {
  /** The CLI arguments of the foreground process (the command, --foreground and its options). */
  args: string[];
  /** Its environment (default: this process's, with DAEMON_CHILD set). */
  env?: NodeJS.ProcessEnv;
  /** Written to its standard input, then closed (a PIN goes here, never in arguments or the environment). */
  input?: string;
  /** Whether a line it printed is the last one of its ready announcement. */
  ready(line: string, lines: string[]): boolean;
  /** How long it may take to be ready (ms). Default 60000. */
  timeoutMs?: number;
}

/**
 * Run the CLI again detached with `args`, and resolve with the lines it printed once `ready` says so; the process keeps
 * running on its own. If it exits or stays silent first, its standard error is passed on (already in the CLI's
 * format) and this process exits with its status.
 */
export async function detachSelf(o: DetachOptions): Promise<string[]> {
  const env: NodeJS.ProcessEnv = { ...(o.env || process.env), [DAEMON_CHILD]: '1' };
  const proc = spawn(process.execPath, [...process.execArgv, process.argv[1], ...o.args], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env });
  proc.stdin!.on('error', () => {});
  proc.stdin!.end(o.input !== undefined ? o.input : '');
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const out: string[] = [];
  const rl = createInterface({ input: proc.stdout! });
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), o.timeoutMs || 60_000);
    rl.on('line', (line) => {
      out.push(line);
      if (o.ready(line, out)) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  rl.close();
  proc.stdout!.destroy();
  proc.stderr!.destroy();
  if (!ready) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    process.stderr.write(err || `tinyhsm ${o.args[0]}: the background process did not start\n`);
    process.exit(proc.exitCode || 1);
  }
  proc.unref();
  return out;
}

/** In the detached process, once its lines are printed: its parent stops reading, so nothing more may go to those pipes. */
export function quietAfterReady(): void {
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
}

/** Resolves with what stopped a serving command: SIGTERM, SIGHUP, or Ctrl-C (tools/cli.ts main turns SIGINT into `interrupt`). */
export function untilStopped(interrupt: AbortSignal | undefined): Promise<'SIGTERM' | 'SIGHUP' | 'SIGINT'> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGHUP', () => resolve('SIGHUP'));
    if (interrupt) interrupt.addEventListener('abort', () => resolve('SIGINT'), { once: true });
  });
}
