// `tinyhsm sim [--pty | --socket PATH] [--json] [--seed HEX] [--fast] [--flash FILE [--power-cut-after N]]`: a simulated token served until SIGINT/SIGTERM or a power cut (docs/architecture.md §6–§7); a line `press` on stdin presses its button (docs/security.md §7).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { Simulator } from './simulator.ts';
import { parseSeed } from './rng.ts';
import { servePty, serveSocket, type Exposure } from './expose.ts';
import { locatePtyLauncher } from './locate.ts';
import { MAX_FLASH_PAGES, MIN_FLASH_PAGES } from './flash.ts';
import { argsErrorText } from './args.ts';

export const SIM_USAGE = `usage: tinyhsm sim [--pty | --socket PATH] [--json] [--seed HEX] [--fast] [--armor] [--max-packet N] [--bundle FILE]
                  [--flash FILE [--flash-pages N] [--power-cut-after N]]

Runs the firmware bundle (dist/tinyhsm-node.js) as a simulated token until Ctrl-C or SIGTERM.
  --pty            serve on a raw pseudo-terminal that serialport, picocom or screen opens (default)
  --socket PATH    serve on a unix socket instead (owner-only; one client at a time)
  --json           print exactly one JSON line first: {"pty":"/dev/pts/N"} or {"socket":"PATH"}
  --seed HEX       deterministic RNG (tests only: the keys are reproducible; also seeds torn writes)
  --fast           crypto on node:crypto (OpenSSL) instead of the device's own noble code: several times faster
                   signing for CI, but not the code a board runs (INFO says platform node-sim-fast); the
                   power-on self-tests still run on it. In-process, HsmClient.open('sim', { simFast: true })
  --armor          speak the text armor Kaluma uses instead of binary frames
  --max-packet N   largest packet the device accepts (2048..65535)
  --bundle FILE    firmware bundle to run (default dist/tinyhsm-node.js)
  --flash FILE     the device's NOR flash, kept in FILE (a raw image of 4096-byte pages; erase counts in
                   FILE.wear). A missing or empty FILE is a factory-new device. Without --flash the device
                   has no flash and forgets everything when it stops.
  --flash-pages N  pages of a new FILE (${MIN_FLASH_PAGES}..${MAX_FLASH_PAGES}, default 32); an existing FILE of another size is refused
  --power-cut-after N
                   lose power at the N-th word written to flash since start (boot included): that word
                   lands torn, the device stops answering, and this command exits with status 3

Standard input: a line \`press\` presses the device's button (for keys with touch, docs/security.md §7).
The device takes only a press that begins after the request that needs it, so type it once the client
says it waits for the button. To run it as a background job of an interactive shell, add \`< /dev/null\`
(a background job that reads the terminal is stopped by the shell).

Exit status: 0 when stopped by SIGINT/SIGTERM (its normal end), 1 when it cannot run (a flash FILE or socket path it
cannot use, no python3 for --pty), 2 for a usage mistake, 3 after --power-cut-after. With --json an error is one
{"error": {"status", "message"}} object on standard error.`;

/** Exit status after a power cut (--power-cut-after): not 0, which a stop by signal gives, nor 1/2 (errors). */
export const POWER_CUT_EXIT = 3;

const OPTIONS = {
  pty: { type: 'boolean' },
  socket: { type: 'string' },
  json: { type: 'boolean' },
  seed: { type: 'string' },
  fast: { type: 'boolean' },
  armor: { type: 'boolean' },
  'max-packet': { type: 'string' },
  bundle: { type: 'string' },
  flash: { type: 'string' },
  'flash-pages': { type: 'string' },
  'power-cut-after': { type: 'string' },
  // internal: set by sim/pty-launch.py on the re-executed process, which has the pty master on fd 3
  'pty-child': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * The simulated button on standard input (docs/security.md §7): each line \`press\` presses it for 200 ms. Feedback
 * goes to stderr, never stdout (stdout carries only the address, and with --json exactly one JSON line). Standard
 * input at its end (a spawned simulator's /dev/null) just ends this. Returns the function that stops listening.
 */
function listenForButton(sim: Simulator): () => void {
  const input = process.stdin;
  const rl = createInterface({ input, terminal: false });
  rl.on('line', (line) => {
    const cmd = line.trim().toLowerCase();
    if (cmd === '') return;
    if (cmd === 'press') {
      if (sim.isClosed) return;
      sim.pressButton();
      process.stderr.write('tinyhsm sim: button pressed\n');
    } else process.stderr.write(`tinyhsm sim: unknown input "${line.trim().slice(0, 40)}": type press (then Enter) to press the device's button\n`);
  });
  input.on('error', () => {
    // a closed or broken standard input only means nobody will press the button from here
  });
  return () => {
    rl.close();
    input.destroy();
  };
}

/**
 * Calls `orphaned` once if this process's parent exits (its ppid changes), checked twice a second. A parent that
 * dies without forwarding a signal (npm's `npx` on SIGTERM, a SIGKILL) must not leave the simulator, its pty and its
 * flash lock behind. Returns the function that stops watching.
 */
function whenParentExits(orphaned: () => void): () => void {
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    orphaned();
  }, 500);
  watch.unref();
  return () => clearInterval(watch);
}

/** The pty master and the kept-open slave, as sim/pty-launch.py arranges them. */
const PTY_MASTER_FD = 3;
const PTY_SLAVE_FD = 4;

/** Set from the command line: errors as one JSON object on stderr, as `tinyhsm --json` prints them (README "Using the CLI"). */
let jsonErrors = false;

/**
 * Stop with an error. Exit codes as the CLI's (README "Using the CLI"): 2 a usage mistake, 1 what failed (a file, the
 * socket, python3); a power cut is POWER_CUT_EXIT and a stop by signal 0, the simulator's normal end.
 */
function fail(message: string, code = 2, status = code === 2 ? 'USAGE' : 'ERROR'): number {
  process.stderr.write(jsonErrors ? JSON.stringify({ error: { status, message } }) + '\n' : `tinyhsm sim: ${message}\n`);
  process.exitCode = code;
  return code;
}

/** Resolves with the first of SIGINT/SIGTERM/SIGHUP (or `extra`); handlers stay installed so a second signal cannot cut cleanup short. */
function untilSignal(extra?: (stop: (why: string) => void) => void): Promise<string> {
  return new Promise((resolve) => {
    let done = false;
    const stop = (why: string) => {
      if (done) return;
      done = true;
      resolve(why);
    };
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => stop(sig));
    if (extra) extra(stop);
  });
}

/**
 * Node cannot open a pseudo-terminal, so `--pty` re-executes this same command line under
 * sim/pty-launch.py, which opens one and hands the master over as fd 3 with `--pty-child PATH`
 * appended. This process waits for that child, forwards signals to it and returns its exit code.
 */
function launchPtyChild(): Promise<number> {
  let launcher: string;
  try {
    launcher = locatePtyLauncher();
  } catch (e) {
    return Promise.resolve(fail((e as Error).message, 1));
  }
  const python = process.env.TINYHSM_PYTHON || 'python3';
  const args = [launcher, process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  return new Promise((resolve) => {
    const child = spawn(python, args, { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    };
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((sig) => {
      const h = () => forward(sig);
      process.on(sig, h);
      return [sig, h] as const;
    });
    const unwatch = whenParentExits(() => forward('SIGTERM'));
    const done = (code: number) => {
      unwatch();
      for (const [sig, h] of handlers) process.off(sig, h);
      process.exitCode = code;
      resolve(code);
    };
    child.once('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' ? `${python} not found: --pty needs python3 to open a pseudo-terminal; install it or use --socket PATH` : e.message;
      done(fail(why, 1));
    });
    child.once('exit', (code, signal) => done(code !== null ? code : signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1));
  });
}

/**
 * Run the simulator command. Resolves with the exit code once the simulator has stopped and cleaned up
 * (socket file removed); it also sets process.exitCode. With --pty (the default) this process runs the
 * simulator in a re-executed child (see launchPtyChild), so call it from a CLI whose process.argv is the
 * command line to repeat (`node dist/cli.js sim --pty`, `node bin/tinyhsm.js sim --pty`).
 */
export async function runSimCommand(argv: string[]): Promise<number> {
  jsonErrors = argv.includes('--json');
  let values;
  try {
    values = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true }).values;
  } catch (e) {
    const known = Object.keys(OPTIONS).filter((o) => o !== 'pty-child');
    return fail(argsErrorText(e, known, 'tinyhsm sim --help'));
  }
  if (values.help) {
    process.stdout.write(SIM_USAGE + '\n');
    return 0;
  }
  if (values.pty && values.socket !== undefined) return fail('choose one of --pty and --socket PATH');
  if (values.socket === '') return fail('--socket needs a path, e.g. --socket /tmp/tinyhsm.sock');
  if (values.seed !== undefined && !parseSeed(values.seed)) return fail(`--seed must be 1 to 64 bytes of hex, got "${values.seed}"`);
  let maxPacket: number | undefined;
  if (values['max-packet'] !== undefined) {
    maxPacket = Number(values['max-packet']);
    if (!Number.isInteger(maxPacket) || maxPacket < 2048 || maxPacket > 65535)
      return fail(`--max-packet must be an integer from 2048 to 65535, got "${values['max-packet']}"`);
  }
  if (values.flash === '') return fail('--flash needs a file path, e.g. --flash dev.img');
  let flashPages: number | undefined;
  if (values['flash-pages'] !== undefined) {
    if (values.flash === undefined) return fail('--flash-pages only applies with --flash FILE');
    flashPages = Number(values['flash-pages']);
    if (!/^\d+$/.test(values['flash-pages']) || flashPages < MIN_FLASH_PAGES || flashPages > MAX_FLASH_PAGES)
      return fail(`--flash-pages must be an integer from ${MIN_FLASH_PAGES} to ${MAX_FLASH_PAGES}, got "${values['flash-pages']}"`);
  }
  let powerCutAfter: number | undefined;
  if (values['power-cut-after'] !== undefined) {
    if (values.flash === undefined) return fail('--power-cut-after needs --flash FILE: a power cut only matters to what the device keeps in flash');
    powerCutAfter = Number(values['power-cut-after']);
    if (!/^\d+$/.test(values['power-cut-after']) || !Number.isSafeInteger(powerCutAfter) || powerCutAfter < 1)
      return fail(`--power-cut-after must be a positive integer (a word write count), got "${values['power-cut-after']}"`);
  }
  const flashPath = values.flash !== undefined ? resolvePath(values.flash) : undefined;
  const socketPath = values.socket !== undefined ? resolvePath(values.socket) : undefined;
  const ptyPath = values['pty-child'];
  if (socketPath === undefined && ptyPath === undefined) return launchPtyChild();

  // Signal handlers go in before anything is printed: a caller may signal as soon as it reads the address.
  let stopNow: (why: string) => void = () => {};
  const stopped = untilSignal((stop) => (stopNow = stop));
  let sim: Simulator;
  try {
    sim = new Simulator({
      seed: values.seed,
      maxPacket,
      linkMode: values.armor ? 'armor' : 'binary',
      bundlePath: values.bundle,
      flash: flashPath,
      flashPages,
      powerCutAfterWords: powerCutAfter,
      fast: values.fast === true,
    });
  } catch (e) {
    stopNow('failed');
    return fail((e as Error).message, 1);
  }
  // the board loses power: stop serving at once (the simulator already sends nothing) and exit with POWER_CUT_EXIT
  sim.onPowerCut(() => stopNow('power cut'));
  let exposure: Exposure;
  try {
    exposure = socketPath !== undefined ? await serveSocket(sim, socketPath) : servePty(sim, PTY_MASTER_FD, ptyPath as string, PTY_SLAVE_FD);
  } catch (e) {
    stopNow('failed');
    sim.close();
    return fail((e as Error).message, 1);
  }
  const key = exposure.kind === 'pty' ? 'pty' : 'socket';
  if (values.json) process.stdout.write(JSON.stringify({ [key]: exposure.address }) + '\n');
  else {
    const what = exposure.kind === 'pty' ? 'a raw pseudo-terminal' : 'a unix socket';
    process.stdout.write(
      `tinyhsm simulator serving on ${exposure.address} (${what}${values.seed !== undefined ? ', seeded RNG: test keys only' : ''}${values.fast ? ', fast: node:crypto, not the device code' : ''})\n` +
        (flashPath !== undefined
          ? `  flash: ${flashPath} (${sim.flash ? sim.flash.pageCount : 0} pages of 4096 bytes)\n`
          : `  no --flash: the device forgets its keys when it stops\n`) +
        `  try: tinyhsm info --device ${exposure.address}\n` +
        `  button: type press and Enter\n` +
        `  stop: Ctrl-C\n`,
    );
  }
  // the launching process forwards signals; if it dies without one, do not linger as an orphan
  const unwatch = whenParentExits(() => stopNow('parent exited'));
  const stopButton = listenForButton(sim);
  // a cut during boot (a small N) happened in the constructor, before anyone could listen
  if (sim.isPoweredOff) stopNow('power cut');
  const why = await stopped;
  stopButton();
  unwatch();
  await exposure.close();
  const cut = why === 'power cut' ? sim.lastPowerCut : undefined;
  sim.close();
  if (cut) {
    const what =
      cut.kind === 'write'
        ? `power cut after word write ${cut.wordWrite} (page ${cut.page}, offset ${cut.offset} landed torn)`
        : `power cut during erase ${cut.erase} (page ${cut.page} left partly erased)`;
    return fail(`${what}; ${flashPath} keeps what was written: start the simulator again on it to power the device back on`, POWER_CUT_EXIT, 'POWER_CUT');
  }
  process.exitCode = 0;
  return 0;
}
