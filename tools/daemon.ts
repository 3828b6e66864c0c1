// Starting a long-running command (ssh-agent, pkcs11) detached, as ssh-agent(1) and `p11-kit server` do: the CLI runs itself again with --foreground in a new session, passes on the lines it prints for `eval`, and returns; `-k` stops it again.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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

/** A value for a POSIX shell: as is when it is plain, else single-quoted. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Why `-k` could not stop a daemon: `usage` when there was nothing to stop (exit 2), else a failure (exit 1). */
export class StopRefused extends Error {
  constructor(
    message: string,
    readonly usage: boolean,
  ) {
    super(message);
  }
}

/**
 * `-k`, as `ssh-agent -k` and `p11-kit server -k`: stop the detached `command` whose pid the variable `pidVar` holds.
 * Where /proc exists it must show that pid running this CLI's `command --foreground` (what detachSelf starts), so a
 * stale variable never stops an unrelated process that was given the pid since. Sends SIGTERM, then waits up to 5 s
 * for the process to end, so its socket is gone when this returns. Resolves with the pid.
 */
export async function stopDaemon(command: string, pidVar: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const raw = env[pidVar];
  if (raw === undefined || raw === '') throw new StopRefused(`${pidVar} is not set: this shell started no ${command} to stop`, true);
  if (!/^[1-9]\d{0,9}$/.test(raw)) throw new StopRefused(`${pidVar}="${raw}" is not a process id`, true);
  const pid = Number(raw);
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  if (!alive()) throw new StopRefused(`no process ${pid} (${pidVar}): the ${command} has already stopped`, false);
  if (existsSync('/proc/self/cmdline')) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
    } catch {
      throw new StopRefused(`process ${pid} (${pidVar}) cannot be inspected, so it is not stopped`, false);
    }
    const at = args.indexOf(command);
    if (at < 0 || args[at + 1] !== '--foreground')
      throw new StopRefused(`process ${pid} (${pidVar}) is not a tinyhsm ${command}; the variable is stale, so nothing was stopped`, false);
  }
  try {
    process.kill(pid, 'SIGTERM');
  } catch (e) {
    throw new StopRefused(`process ${pid} cannot be stopped: ${(e as NodeJS.ErrnoException).code}`, false);
  }
  for (let i = 0; i < 200 && alive(); i++) await new Promise((r) => setTimeout(r, 25));
  if (alive()) throw new StopRefused(`process ${pid} got SIGTERM and has not stopped after 5 s`, false);
  return pid;
}
