// The CLI's help as people expect it: `--version`, `tinyhsm CMD --help` with that command's forms and examples, and a short "did you mean" for a mistyped command (exit 2, docs in README "Using the CLI").
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
    expect(sign.stdout).toMatch(/sign --key ID \(--data HEX \| --in FILE\|-\)/);
    expect(sign.stdout).not.toMatch(/keygen --alg/);
    expect(sign.stdout).toMatch(/--device PATH/);
    const audit = await runCli(['help', 'audit']);
    for (const form of ['audit pull', 'audit verify', 'audit tail', 'audit settings']) expect(audit.stdout).toContain(form);
    const all = await runCli(['--help']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/keygen --alg ALG/);
    expect(all.stdout).toMatch(/audit pull/);
  });

  it('CMD --help shows 1 to 3 examples for the common commands, and every example parses (its flags exist)', async () => {
    const common = [
      'info',
      'init',
      'keygen',
      'list',
      'pubkey',
      'sign',
      'ecdh',
      'delete',
      'reset',
      'random',
      'trust',
      'audit',
      'ca',
      'jwt',
      'ssh-agent',
      'ssh-ca',
    ];
    const helps = await Promise.all(common.map((cmd) => runCli([cmd, '--help'])));
    const examples: [string, string][] = [];
    helps.forEach((h, i) => {
      expect(h.code, common[i]).toBe(0);
      const block = /\nexamples:\n((?: {2}\S.*\n)+)/.exec(h.stdout);
      expect(block, `${common[i]} --help has examples`).not.toBeNull();
      const lines = block![1].trimEnd().split('\n');
      expect(lines.length, common[i]).toBeGreaterThanOrEqual(1);
      expect(lines.length, common[i]).toBeLessThanOrEqual(3);
      for (const l of lines) {
        expect(l, common[i]).toContain(`tinyhsm ${common[i]}`);
        examples.push([common[i], l]);
      }
    });
    // each example with --help added: a flag that does not exist would be a usage error (exit 2) here
    for (let i = 0; i < examples.length; i += 4) {
      await Promise.all(
        examples.slice(i, i + 4).map(async ([cmd, line]) => {
          // the tinyhsm part of the line: after a pipe into it, before what a shell runs next
          const words = line
            .replace(/#.*$/, '')
            .split('tinyhsm ')
            .pop()!
            .split(/ (?:&&|\||>|;) /)[0]
            .trim()
            .split(/\s+/);
          const r = await runCli([...words, '--help']);
          expect(r.code, `${line}: ${r.stderr}`).toBe(0);
          expect(r.stdout, line).toMatch(new RegExp(`^usage: tinyhsm ${cmd}`));
        }),
      );
    }
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
