// The CLI's help as people expect it: `--version`, `tinyhsm CMD --help` with that command's forms, and a short "did you mean" for a mistyped command (exit 2, docs in README "Using the CLI").
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { runCli } from '../helpers/sim.ts';

const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

describe('tinyhsm help, version and mistyped commands', () => {
  it('--version prints the package version and the protocol version; --json as one object', async () => {
    const r = await runCli(['--version']);
    expect([r.code, r.stdout.trim()]).toEqual([0, `tinyhsm ${version} (protocol 1)`]);
    const j = await runCli(['--version', '--json']);
    expect(JSON.parse(j.stdout)).toEqual({ version, protocol: 1 });
  });

  it('CMD --help and help CMD give that command alone, with the common options; the whole usage stays at --help', async () => {
    const sign = await runCli(['sign', '--help']);
    expect(sign.code).toBe(0);
    expect(sign.stdout).toMatch(/^usage: tinyhsm sign/);
    expect(sign.stdout).toMatch(/sign --key ID \(--data HEX \| --in FILE\)/);
    expect(sign.stdout).not.toMatch(/keygen --alg/);
    expect(sign.stdout).toMatch(/--device PATH/);
    const audit = await runCli(['help', 'audit']);
    for (const form of ['audit pull', 'audit verify', 'audit tail', 'audit settings']) expect(audit.stdout).toContain(form);
    const all = await runCli(['--help']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/keygen --alg ALG/);
    expect(all.stdout).toMatch(/audit pull/);
  });

  it('a mistyped command: exit 2, one line naming the nearest command, no usage dump', async () => {
    for (const [typed, meant] of [
      ['sing', 'sign'],
      ['lsit', 'list'],
      ['keygne', 'keygen'],
      ['audti', 'audit'],
    ]) {
      const r = await runCli([typed]);
      expect(r.code, typed).toBe(2);
      expect(r.stderr.trim(), typed).toBe(
        `tinyhsm ${typed}: unknown command "${typed}". Did you mean \`tinyhsm ${meant}\`? \`tinyhsm --help\` lists the commands.`,
      );
    }
    const far = await runCli(['frobnicate']);
    expect([far.code, far.stderr.trim()]).toEqual([2, 'tinyhsm frobnicate: unknown command "frobnicate". `tinyhsm --help` lists the commands.']);
    const help = await runCli(['help', 'frobnicate']);
    expect(help.code).toBe(2);
  });
});
