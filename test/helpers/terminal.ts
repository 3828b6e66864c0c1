// The CLI on a real pseudo-terminal (python3's pty.fork): its standard input and output ARE a terminal, for what a CLI does only there (PIN prompts without echo, confirmations, progress bars).
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import { cliCommand, nodeBundle } from './sim.ts';

/** What the terminal showed (a typed answer appears there only if the CLI left echo on), the exit code, and how many prompts were answered. */
export interface TerminalRun {
  out: string;
  code: number;
  prompts: number;
}

/**
 * Run the CLI with `env` on a new pseudo-terminal, answering each `prompt` it shows ("PIN: ", "to go on: ") with the
 * next of `answers` and Enter.
 */
export async function onTerminal(env: NodeJS.ProcessEnv, args: string[], answers: string[] = [], prompt = 'to go on: '): Promise<TerminalRun> {
  const cmd = await cliCommand();
  const r = spawnSync('python3', ['-c', TERMINAL, process.execPath, ...cmd, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env, TINYHSM_BUNDLE: await nodeBundle(), ANSWERS: JSON.stringify(answers), PROMPT: prompt },
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as TerminalRun;
}

const TERMINAL = `
import json, os, pty, select, sys, time
answers = json.loads(os.environ['ANSWERS'])
prompt = os.environ['PROMPT'].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b''
asked = 0
deadline = time.time() + 50
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if not r:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if out.count(prompt) > asked and asked < len(answers):
        os.write(fd, answers[asked].encode() + b'\\r')
        asked += 1
_, status = os.waitpid(pid, 0)
print(json.dumps({'out': out.decode('utf-8', 'replace'), 'code': os.waitstatus_to_exitcode(status), 'prompts': asked}))
`;
