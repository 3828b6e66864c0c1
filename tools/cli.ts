// The tinyhsm command-line interface: one subcommand per device operation, PINs from flags, environment or a no-echo prompt, `--json` for machines, errors a person can act on.
import { parseArgs } from 'node:util';
import {
  appendFileSync,
  chmodSync,
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import {
  ALG_NAMES,
  Alg,
  COMMANDS,
  Capability,
  Command,
  Gate,
  PROTOCOL_VERSION,
  STATUS_HINTS,
  algId,
  fromHex,
  nameOf,
  toHex,
  type InfoResponse,
  type KeyPolicy,
} from '../firmware/protocol/index.ts';
import {
  addApproval,
  approvalSetOf,
  officerFingerprint,
  readRequestFile,
  requestFile,
  type ApprovalRequest,
  type ApprovalSet,
  keySigner,
  type RequestFile,
} from '../host/approvals.ts';
import { newOfficerKey, openOfficerKey, publicJson, readOfficerPublic, writePrivateFile, type OfficerPublic } from '../host/officer-keys.ts';
import { MAX_NONCE, MIN_NONCE } from '../firmware/protocol/commands/limits.ts';
import { MAX_BACKUP_KEYS } from '../firmware/protocol/commands/domain.ts';
import { reshare } from '../host/domain.ts';
import { HsmClient, HsmError, type KeepaliveEvent, type KeyPolicyOptions, type PinState, type RoleName, type VerifiedAttestation } from '../host/index.ts';
import { CAPABILITY_LIST, DEFAULT_CAPABILITIES, capabilityBits, capabilityNames, originName, policyJson, policyText } from '../host/policy.ts';
import { publicKeyToPem, publicKeyToSpkiDer, publicKeyToSsh } from '../host/pubkey-format.ts';
import { SIGNATURE_FORMATS, encodeSignature, rawSignatureToDer, type SignatureFormat } from '../host/signature-format.ts';
import { fileSource, type MessageSource } from '../host/message-source.ts';
import { runSimCommand } from '../sim/main.ts';
import { runConnectorCommand } from './cli-connector.ts';
import { sshAgentCommand, sshCaCommand, type SshCliHelpers } from './cli-ssh.ts';
import { pkcs11Command } from './cli-pkcs11.ts';
import { sshComment } from '../host/ssh.ts';
import { caCommand, jwtCommand } from './cli-x509.ts';
import { argsErrorText, nearest } from '../sim/args.ts';
import { KnownDevices, TrustError, identityFingerprint, type KnownDevice } from '../host/known-devices.ts';
import { readPeerKey, type PeerKey } from '../host/peer-key.ts';
import {
  checkChain,
  parseAuditLines,
  readAuditFile,
  verifyAuditLines,
  type AuditEntry,
  type AuditGap,
  type AuditHeader,
  type AuditLine,
  type AuditProblem,
  type ChainTip,
} from '../host/audit.ts';

const USAGE = `usage: tinyhsm <command> [options]

commands:
  sim [--pty | --socket PATH] [--json] [--seed HEX] [--fast] [--flash FILE] [--power-cut-after N]
                                                      run a simulated token (keys persist in FILE; a line "press" on
                                                      its standard input presses its button)
  connector --socket PATH --device DEV [--tcp 127.0.0.1:PORT] [--group NAME]
                                                      share one device among many programs (FIFO, sessions end
                                                      to end); clients use --device connector:PATH (docs/connector.md)
  demo                                                start a simulator on a pty: init, keygen, sign, verify with OpenSSL, attest
  info                                                firmware, device id, initialized, PIN tries, algorithms, slots
  init --pin USER --so-pin SO [--label L] [--threshold M --officer FILE...]
                                                      give a factory-new device its user PIN and SO PIN (and its
                                                      officers, enrolled with them)
  keygen --alg ALG [--label L] [POLICY]               [user] generate a key pair on the device
  import --alg ALG (--private-file FILE | --private HEX) [--label L] [POLICY]
                                                      [SO] store a private key made elsewhere; FILE holds it in
                                                      hex (- reads standard input): prefer it, a command line is
                                                      seen by other users (ps) and kept in shell history
  list                                                [user or SO] list keys with their policy
  pubkey --key ID [--format hex|pem|ssh]              [user or SO] print a public key
  sign --key ID (--data HEX | --in FILE|-) [--digest] [--prehashed [--context HEX]] [--format hex|raw|der|base64]
                                                      [user] sign a message of any size (Ed25519: streamed through the
                                                      device; ECDSA: its SHA-256, hashed here for a long one), or with
                                                      --digest the SHA-256 (ECDSA) / SHA-512 (--prehashed) in the input;
                                                      --prehashed signs Ed25519ph; raw and der are bytes (der: ECDSA only)
  ecdh --key ID (--peer HEX | --peer-file FILE)       [user] shared secret with a peer public key: HEX as the
                                                      device takes it, or FILE in PEM or DER (SPKI) or hex (-:
                                                      standard input), checked against the key's curve first
  attest --key ID [--nonce HEX]                       [user or SO] a statement about the key signed by the device, verified
  policy --key ID [--remove-capabilities LIST] [--capabilities LIST] [--touch] [--sensitive]
                                                      [user to tighten] show a key's policy, or tighten it; with
                                                      --approve KEY... (M officers) --capabilities and --exportable
                                                      may also loosen it
  delete --key ID [--approve KEY...] [--force]        [user] delete a key (a protected one: M officers --approve);
                                                      on a terminal it asks you to type the key id, else --force
  change-pin [--so] [--pin OLD | --so-pin OLD] [--new-pin NEW]
                                                      [user or SO] replace the user PIN (with --so: the SO PIN)
  unblock --so-pin SO [--new-pin NEW]                 [SO] the SO sets a new user PIN after it blocked
  random N                                            N random bytes from the device (no login)
  officer keygen --label L --out FILE                 make an officer key: FILE (encrypted under a passphrase) and FILE.pub
  officer export --key ID --label L --out FILE.pub    [user or SO] an Ed25519 key of this device as an officer's .pub
  officer list                                        the device's officers and threshold (no login)
  officer set --threshold M --officer FILE... [--approve KEY...]
                                                      [SO] enrol the officers (FILE: their .pub or key files); once
                                                      officers are enrolled, M of them must --approve a change
  reset [--approve KEY...] [--force]                  erase every key, PIN and officer: M officers --approve it (no
                                                      PIN); on a device without officers, [SO]
  domain create --out FILE                            [SO] make the domain: its wrap key split M-of-N, one share sealed to
                                                      each officer (FILE); INFO then shows the domain id
  domain join-request --domain FILE --out JOIN        on the device that joins: its id and identity key, for the officers
  domain reshare JOIN --domain FILE (--officer-key KEY | --officer-device DEV --key ID) --identity KEY_HEX
                                                      an officer checks the joining device's identity key and seals its
                                                      share to it (a key on a tinyhsm re-seals inside it); then
                                                      \`approval request domain-join\` on that device
  backup --keys all|ID,... --approve KEY... --out FILE
                                                      [SO] keys allowing export-under-wrap, sealed under the domain key
  restore --in FILE --approve KEY...                  [SO] restore a backup on a device of its domain (marked restored)
  clone --from DEV --to DEV --approve KEY... [--domain FILE --identity KEY_HEX] [--to-so-pin PIN]
                                                      [SO of both] the target joins the domain (if not yet in it), then
                                                      every exportable key it lacks goes across (docs/quorum.md §10)
  approval request (reset | officer-set ... | policy --key ID --capabilities LIST [--exportable] | delete --key ID
                    | domain-join --join JOIN | backup --keys ID,... | restore --in FILE) --out FILE
                                                      start a ceremony: the device's challenge and the request,
                                                      for officers to sign one by one (docs/quorum.md §6)
  approval sign FILE (--officer-key KEY | --officer-device DEV --key ID)
                                                      show what FILE asks for and add this officer's approval (a
                                                      key on another tinyhsm signs there, with its user PIN)
  approval submit FILE [--out BACKUP]                 send the request with its approvals (logs in as it needs); a
                                                      backup's blob goes to BACKUP
  audit pull --out FILE [--ack]                       [auditor, else user or SO] append the entries FILE lacks
                                                      (JSON lines), checked against a fresh signed checkpoint;
                                                      --ack (auditor) then marks them collected (docs/audit.md)
  audit verify --in FILE [--offline]                  check FILE's chain and checkpoints, then the device's log now
  audit tail [--count N] [--follow]                   [auditor, else user or SO] the newest entries; --follow waits
                                                      for more
  audit settings [--forced on|off] [--lock] [--new-auditor-pin PIN]
                                                      [SO] forced audit (a full log refuses audited commands), lock
                                                      it on until reset, set the auditor PIN
  ssh-agent [-a SOCKET] [--idle MIN] [--foreground]   [user] an SSH agent on the device's Ed25519 and P-256
                                                      signing keys: eval "$(tinyhsm ssh-agent)"; ssh-add -x locks,
                                                      ssh-add -X unlocks with the user PIN; logs the device out
                                                      after MIN minutes without a signature (default 15);
                                                      --foreground serves in this process (docs/ssh.md)
  ssh-agent -k                                        stop the agent SSH_AGENT_PID names: eval "$(tinyhsm ssh-agent -k)"
  ssh-ca sign --key ID --pub FILE -I KEY_ID -n PRINCIPALS -V VALIDITY [--host] [--serial N] [--out FILE]
                                                      [user] an OpenSSH certificate for the key in FILE signed by
                                                      key ID (FILE-cert.pub unless --out); VALIDITY as ssh-keygen
                                                      -V: +1h, +52w, always, -5m:+1h or 20250101:20260101;
                                                      the CA line for sshd: \`pubkey --key ID --format ssh\`
  pkcs11 --socket PATH [--ecdsa-only] [--cache FILE] [--foreground]
                                                      serve the device to PKCS#11 programs through p11-kit-client.so;
                                                      detaches and prints P11_KIT_SERVER_ADDRESS=… for eval, as
                                                      \`p11-kit server\` does; each connection gets its own device
                                                      session and logs in with C_Login (docs/pkcs11.md)
  pkcs11 -k                                           stop the server P11_KIT_SERVER_PID names, as p11-kit server -k
  ca init --key ID --subject DN [--days N] [--path-len N] [--out FILE]
                                                      [user] a self-signed X.509 CA certificate for key ID (PEM;
                                                      DN as RFC 4514 text, "CN=Example CA, O=Example"; docs/x509.md)
  ca sign --key ID --ca FILE (--csr FILE | --pub FILE --subject DN) [--subject DN] [--dns NAME...] [--ip ADDR...]
          [--days N] [--server] [--client] [--out FILE]
                                                      [user] a leaf certificate signed by CA key ID for a CSR (its
                                                      signature must verify) or a PUBLIC KEY PEM; --server/--client:
                                                      extKeyUsage serverAuth/clientAuth
  ca csr --key ID --subject DN [--dns NAME...] [--ip ADDR...] [--out FILE]
                                                      [user] a PKCS#10 request for key ID, signed by it
  jwt sign --key ID (--payload JSON | --payload-file FILE) [--kid K] [--exp SECONDS]
                                                      [user] a JWT signed by key ID: ES256 (P-256), ES256K
                                                      (secp256k1) or EdDSA (Ed25519), as the key's algorithm
  devices                                             find boards on serial ports
  trust list                                          the devices this host pinned (known-devices file): id,
                                                      identity key fingerprint, label, when
  trust remove DEVICE_ID [--force]                    forget a pinned device (gone, or its identity key changed:
                                                      flash erased, board replaced), so --trust can pin it again;
                                                      DEVICE_ID: the id or its first 8+ hex digits

[user], [SO]: the role the command logs in with. POLICY (keygen, import): --capabilities LIST (comma-separated:
  ${CAPABILITY_LIST.join(', ')}; default: the algorithm's main use), --exportable (add
  export-under-wrap to them), --touch (a button press for every use), --protected (deleting the key needs M
  officers; \`policy --protected\` sets it later, \`policy --unprotect --approve KEY...\` clears it).
  Keys are always created sensitive. A policy can later only be tightened (\`tinyhsm policy\`), or loosened with
  --approve KEY... by M officers where officers are enrolled.

Officers (docs/quorum.md): KEY is an officer key file; its passphrase comes from HSM_OFFICER_PASSPHRASE or is
  asked for on the terminal. --approve signs in this process; \`approval request/sign/submit\` passes one file
  from officer to officer instead, so no key leaves its owner.

PINs: the user PIN from --pin or HSM_PIN, the SO PIN from --so-pin or HSM_SO_PIN, the auditor PIN from
  --auditor-pin or HSM_AUDITOR_PIN; when none is given and
  standard input is a terminal, the PIN is asked for without echo. PINs are 6 to 64 bytes (UTF-8).

options:
  --help          this text; \`tinyhsm COMMAND --help\` gives one command's forms
  --version       the version of this tinyhsm and of its protocol
  --device PATH   a serial port or pty path, a unix socket path, or "sim" (in-process); default $HSM_DEVICE, else discovery
  --trust         pin a device this host has not seen yet (trust on first use); never accepts a changed identity
  --json          print exactly one JSON object on stdout (bytes as hex); a failure: one {"error": …} on stderr
  --out FILE      info, list, pubkey, sign, ecdh, attest, random, policy, trust list: the output goes to FILE (ecdh
                  and random: mode 0600), not stdout; with --json stdout gets {"out": FILE}. backup, officer, domain,
                  approval and audit pull keep their own --out FILE (a file they make)
  --in -          restore, audit verify, approval request restore: read FILE from standard input (as sign --in -,
                  --peer-file - and --private-file - do)
  --force         delete, reset, trust remove: do it without asking (needed where standard input is not a terminal)

exit codes: 0 done; 1 the operation failed (the device refused, a check failed, a file could not be read or
  written); 2 a usage mistake (a flag, command or argument; the operation was not attempted); 130 cancelled (Ctrl-C)

Every command but info opens a secure session that the device signs with its identity key; the key is pinned
in $HSM_KNOWN_DEVICES, else $XDG_CONFIG_HOME/tinyhsm/known-devices.json, else ~/.config/tinyhsm/known-devices.json.
algorithms: ${Object.values(ALG_NAMES).join(', ')}`;

// ---------------------------------------------------------------- help, version, "did you mean"

/** USAGE's "commands:" block: from that heading to the first blank line. */
function commandLines(): string[] {
  const lines = USAGE.split('\n');
  const from = lines.indexOf('commands:') + 1;
  const to = lines.indexOf('', from);
  return lines.slice(from, to < 0 ? lines.length : to);
}

/** The commands USAGE lists (its lines `  name …` at column 2), in its order: the one list `--help` and suggestions read. */
function commandNames(): string[] {
  const out: string[] = [];
  for (const line of commandLines()) {
    const m = /^ {2}([a-z][a-z-]*)\b/.exec(line);
    if (m && !out.includes(m[1])) out.push(m[1]);
  }
  return out;
}

/** `tinyhsm CMD --help`: the USAGE lines of CMD (each form and its continuation lines) and the common options. */
function commandHelp(cmd: string): string | undefined {
  const lines = commandLines();
  const mine: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!new RegExp(`^ {2}${cmd}\\b`).test(lines[i])) continue;
    mine.push(lines[i]);
    // a form's continuation: lines indented past the command column, until the next command or a blank line
    for (let j = i + 1; j < lines.length && /^ {3,}\S/.test(lines[j]); j++) mine.push(lines[j]);
  }
  if (mine.length === 0) return undefined;
  const opts = USAGE.slice(USAGE.indexOf('options:'));
  const examples = EXAMPLES[cmd] ? `examples:\n${EXAMPLES[cmd].map((e) => `  ${e}`).join('\n')}\n\n` : '';
  return `usage: tinyhsm ${cmd} [options]\n\n${mine.join('\n')}\n\n${examples}${opts}`;
}

/**
 * The examples `tinyhsm CMD --help` shows under the command's forms: one table, keyed by command, of the lines people
 * type most (README "Using the CLI" walks through the same steps). A command without an entry shows its forms alone.
 */
const EXAMPLES: { readonly [cmd: string]: readonly string[] } = {
  info: ['tinyhsm info --device /dev/ttyACM0', 'tinyhsm info --json'],
  init: ['tinyhsm init --trust  # asks for each new PIN twice', 'tinyhsm init --label ci --threshold 2 --officer alice.key.pub --officer bob.key.pub'],
  keygen: ['tinyhsm keygen --alg ed25519 --label ci-signing', 'tinyhsm keygen --alg ecdsa-p256 --touch --json', 'tinyhsm keygen --alg x25519'],
  list: ['tinyhsm list', 'tinyhsm list --json --out keys.json'],
  pubkey: ['tinyhsm pubkey --key 1 --format pem --out key.pem', 'tinyhsm pubkey --key 1 --format ssh'],
  sign: [
    'tinyhsm sign --key 1 --in release.tar.gz --format base64 --out release.sig',
    'tinyhsm sign --key 2 --in msg --format der --out msg.sig && openssl dgst -sha256 -verify key.pem -signature msg.sig msg',
    'tar c dir | tinyhsm sign --key 1 --in - --json',
  ],
  ecdh: ['tinyhsm ecdh --key 3 --peer-file peer.pem --out shared.hex', 'openssl pkey -in peer.key -pubout | tinyhsm ecdh --key 3 --peer-file -'],
  delete: ['tinyhsm delete --key 4  # asks you to type 4', 'tinyhsm delete --key 4 --force --json'],
  reset: ['tinyhsm reset  # asks you to type reset, then the SO PIN', 'tinyhsm reset --approve alice.key --approve bob.key --force'],
  random: ['tinyhsm random 32', 'tinyhsm random 32 --out seed.hex'],
  trust: ['tinyhsm trust list', 'tinyhsm trust remove 5f2a91c4 --force'],
  audit: ['tinyhsm audit pull --out audit.jsonl --ack', 'tinyhsm audit verify --in audit.jsonl', 'tinyhsm audit tail --follow'],
  ca: [
    'tinyhsm ca init --key 1 --subject "CN=Example Root CA, O=Example" --out ca.pem',
    'tinyhsm ca sign --key 1 --ca ca.pem --csr srv.csr --dns www.example.com --server --days 90 --out srv.pem',
    'tinyhsm ca csr --key 2 --subject "CN=device-17" --dns device-17.example --out device.csr',
  ],
  jwt: ['tinyhsm jwt sign --key 1 --payload \'{"sub":"deploy-bot","aud":"registry"}\' --kid ci --exp 600'],
  connector: [
    'tinyhsm connector --socket /tmp/hsm.sock --device /dev/ttyACM0 &   # then: HSM_DEVICE=connector:/tmp/hsm.sock tinyhsm list',
    'tinyhsm connector --socket /run/tinyhsm/hsm.sock --device armor:/dev/ttyACM0 --group tinyhsm --tcp 127.0.0.1:12345',
  ],
  'ssh-agent': [
    'tinyhsm ssh-agent --idle 30 > agent.env  # then: . ./agent.env; ssh-add -L',
    'tinyhsm ssh-agent --foreground -a /tmp/hsm-agent.sock',
    'tinyhsm ssh-agent -k  # stops the agent $SSH_AGENT_PID names; eval its output to unset the variables',
  ],
  'ssh-ca': ['tinyhsm ssh-ca sign --key 1 --pub id_ed25519.pub -I alice@example -n alice -V +8h'],
  pkcs11: [
    'eval "$(tinyhsm pkcs11 --device /dev/ttyACM0 --socket $XDG_RUNTIME_DIR/tinyhsm.p11)"  # eval "$(tinyhsm pkcs11 -k)" stops it',
    'pkcs11-tool --module /usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so --login -O',
    'ssh-keygen -D /usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so',
  ],
};

/** An unknown command: short, with the nearest command when one is close (exit 2). */
function unknownCommand(cmd: string): UsageError {
  const near = nearest(cmd, commandNames());
  const hint = near !== undefined ? ` Did you mean \`tinyhsm ${near}\`?` : '';
  return new UsageError(`unknown command "${cmd}".${hint} \`tinyhsm --help\` lists the commands.`);
}

/** This package's version: the package.json named tinyhsm above this file (dist/cli.js, or a test build of it). */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tinyhsm' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no package.json here: look further up
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

/** A usage mistake: exit code 2 with a message that says what to type instead. */
class UsageError extends Error {}
/** The person pressed Ctrl-C (or Ctrl-D) at a PIN prompt: exit code 130, nothing sent. */
class Cancelled extends Error {}
/**
 * The operation failed on this side of the link (README "Using the CLI", exit codes): a file that cannot be read or
 * written ('IO'), a check that did not pass ('VERIFICATION_FAILED'), an entry that is not there ('NOT_FOUND'). Exit
 * code 1, as for what the device refuses; `status` names it in the --json error.
 */
class Failure extends Error {
  constructor(
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
}

const OPTIONS = {
  device: { type: 'string' },
  json: { type: 'boolean' },
  trust: { type: 'boolean' },
  alg: { type: 'string' },
  label: { type: 'string' },
  private: { type: 'string' },
  'private-file': { type: 'string' },
  key: { type: 'string' },
  format: { type: 'string' },
  data: { type: 'string' },
  in: { type: 'string' },
  digest: { type: 'boolean' },
  prehashed: { type: 'boolean' },
  context: { type: 'string' },
  peer: { type: 'string' },
  'peer-file': { type: 'string' },
  pin: { type: 'string' },
  'so-pin': { type: 'string' },
  'auditor-pin': { type: 'string' },
  'new-pin': { type: 'string' },
  so: { type: 'boolean' },
  capabilities: { type: 'string' },
  'remove-capabilities': { type: 'string' },
  exportable: { type: 'boolean' },
  touch: { type: 'boolean' },
  sensitive: { type: 'boolean' },
  nonce: { type: 'string' },
  threshold: { type: 'string' },
  officer: { type: 'string', multiple: true },
  approve: { type: 'string', multiple: true },
  'officer-key': { type: 'string' },
  'officer-device': { type: 'string' },
  out: { type: 'string' },
  force: { type: 'boolean' },
  protected: { type: 'boolean' },
  unprotect: { type: 'boolean' },
  domain: { type: 'string' },
  identity: { type: 'string' },
  keys: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  'to-so-pin': { type: 'string' },
  join: { type: 'string' },
  ack: { type: 'boolean' },
  offline: { type: 'boolean' },
  follow: { type: 'boolean' },
  count: { type: 'string' },
  forced: { type: 'string' },
  lock: { type: 'boolean' },
  'new-auditor-pin': { type: 'string' },
  socket: { type: 'string', short: 'a' },
  idle: { type: 'string' },
  foreground: { type: 'boolean' },
  kill: { type: 'boolean', short: 'k' },
  pub: { type: 'string' },
  'cert-id': { type: 'string', short: 'I' },
  cache: { type: 'string' },
  'ecdsa-only': { type: 'boolean' },
  principals: { type: 'string', short: 'n' },
  validity: { type: 'string', short: 'V' },
  host: { type: 'boolean' },
  serial: { type: 'string' },
  subject: { type: 'string' },
  days: { type: 'string' },
  'path-len': { type: 'string' },
  ca: { type: 'string' },
  csr: { type: 'string' },
  dns: { type: 'string', multiple: true },
  ip: { type: 'string', multiple: true },
  server: { type: 'boolean' },
  client: { type: 'boolean' },
  payload: { type: 'string' },
  'payload-file': { type: 'string' },
  kid: { type: 'string' },
  exp: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

type Opts = {
  [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[] : (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string;
};

function needHex(value: string | undefined, flag: string): Uint8Array {
  if (value === undefined) throw new UsageError(`--${flag} HEX is required`);
  const b = fromHex(value.replace(/^0x/, ''));
  if (!b) throw new UsageError(`--${flag} must be hex (an even number of 0-9a-f characters)`);
  return b;
}

/**
 * The private key of `import`: from --private-file FILE (hex; `-` is standard input), which keeps it out of the
 * process list and the shell history, or from --private HEX. The text read is wiped once parsed.
 */
function needPrivateKey(opts: { private?: string; 'private-file'?: string }): Uint8Array {
  const file = opts['private-file'];
  if (file === undefined) {
    if (opts.private === undefined) throw new UsageError('--private-file FILE (the key in hex; - for standard input) or --private HEX is required');
    return needHex(opts.private, 'private');
  }
  if (opts.private !== undefined) throw new UsageError('give the key once: --private-file FILE or --private HEX, not both');
  const raw = readInput(file, '--private-file');
  try {
    const text = raw.toString('latin1').replace(/\s+/g, '').replace(/^0x/, '');
    const b = fromHex(text);
    if (!b || b.length === 0)
      throw new UsageError(`--private-file: ${file === '-' ? 'standard input' : file} must hold the key in hex (an even number of 0-9a-f characters)`);
    return b;
  } finally {
    raw.fill(0);
  }
}

/** --peer-file FILE (or - for standard input): a peer public key in PEM, DER or hex (host/peer-key.ts). */
function peerFromFile(path: string): PeerKey {
  const raw = readInput(path, '--peer-file');
  try {
    return readPeerKey(raw, path === '-' ? 'standard input' : path);
  } catch (e) {
    throw new UsageError(`--peer-file: ${(e as Error).message}`);
  }
}

/** A key's kind as a person names it, for messages about curves. */
function curveText(k: PeerKey): string {
  if (k.alg === Alg.X25519) return 'an X25519 key';
  if (k.alg === Alg.ECDSA_P256) return 'a P-256 key';
  if (k.alg === Alg.ECDSA_SECP256K1) return 'a secp256k1 key';
  if (k.other !== undefined) return `a key of type ${k.other}`;
  return `a ${k.publicKey.length}-byte EC point`;
}

/**
 * ECDH needs the peer key on the device key's curve (firmware/protocol/commands/ecdh.ts): an X25519 key takes a 32-byte
 * X25519 key, a P-256 key a SEC1 point. A mismatch is a usage error before ECDH is sent; a key that does no ECDH at
 * all is left to the device, whose refusal says so.
 */
function checkPeerCurve(keyId: number, deviceAlg: number, peer: PeerKey, where: string): void {
  let fits: boolean;
  if (deviceAlg === Alg.X25519) fits = peer.alg === Alg.X25519;
  else if (deviceAlg === Alg.ECDSA_P256)
    fits = peer.alg === Alg.ECDSA_P256 || (peer.alg === undefined && peer.other === undefined && peer.publicKey.length !== 32);
  else return;
  if (!fits)
    throw new UsageError(
      `key ${keyId} is ${algName(deviceAlg)}, so ECDH with it needs ${deviceAlg === Alg.X25519 ? 'an X25519' : 'a P-256'} public key; ${where} holds ${curveText(peer)}`,
    );
}

function needKeyId(value: string | undefined): number {
  if (value === undefined) throw new UsageError('--key ID is required (see `tinyhsm list`)');
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 0xffff) throw new UsageError(`--key must be a key id from 1 to 65535, got "${value}"`);
  return n;
}

function needAlg(value: string | undefined): number {
  const names = Object.values(ALG_NAMES).join(', ');
  if (value === undefined) throw new UsageError(`--alg is required: one of ${names}`);
  const id = algId(value);
  if (id === undefined) throw new UsageError(`unknown algorithm "${value}": use one of ${names}`);
  return id;
}

function algName(id: number): string {
  return ALG_NAMES[id] || String(id);
}

/** A comma-separated capability list to bits; a wrong name is a usage error that lists the right ones. */
function capabilityFlag(value: string, flag: string): number {
  try {
    return capabilityBits(value.split(','));
  } catch (e) {
    throw new UsageError(`--${flag}: ${(e as HsmError).deviceMessage || (e as Error).message.replace(/^BAD_ARGUMENT: /, '').replace(/ \(.*\)$/, '')}`);
  }
}

/** keygen/import policy flags (see USAGE "POLICY"). */
function creationPolicy(opts: Opts, alg: number): KeyPolicyOptions {
  const p: KeyPolicyOptions = {};
  if (opts.capabilities !== undefined) p.capabilities = capabilityFlag(opts.capabilities, 'capabilities');
  if (opts.exportable) p.capabilities = ((p.capabilities as number | undefined) ?? DEFAULT_CAPABILITIES[alg] ?? 0) | Capability.EXPORT_WRAPPED;
  if (opts.touch) p.touch = true;
  if (opts.sensitive) p.sensitive = true;
  if (opts.protected) p.protected = true;
  if (opts['remove-capabilities'] !== undefined) throw new UsageError('--remove-capabilities is for `tinyhsm policy`; at creation give --capabilities LIST');
  return p;
}

// ---------------------------------------------------------------- files in and out (README "Using the CLI": --out FILE, --in -)

/** Which flag read standard input: it can be read once, so a second `-` is a usage error rather than an empty input. */
let stdinReader: string | undefined;

/** The bytes of FILE, or of standard input for `-`. A file that cannot be read is an I/O failure (exit 1). */
function readInput(path: string, flag: string): Buffer {
  if (path === '-') {
    if (stdinReader !== undefined) throw new UsageError(`${flag} - and ${stdinReader} - both read standard input: give one of them a file`);
    stdinReader = flag;
  }
  try {
    return readFileSync(path === '-' ? 0 : path);
  } catch (e) {
    throw new Failure('IO', `${flag}: cannot read ${path === '-' ? 'standard input' : path}: ${(e as Error).message}`);
  }
}

/** The commands whose output is data, which `--out FILE` sends to FILE instead of stdout (others' --out names a file they make). */
const DATA_OUTPUT = new Set(['info', 'list', 'pubkey', 'sign', 'ecdh', 'attest', 'random', 'policy', 'trust list']);
/** Of those, the ones whose output is secret or may be used as a secret: FILE is made readable by its owner alone (0600). */
const SECRET_OUTPUT = new Set(['ecdh', 'random']);

/** The data command line's `--out FILE`, if it has one (`-` is stdout). */
function dataOut(cmd: string, positionals: string[], opts: Opts): { path: string; secret: boolean } | undefined {
  const name = cmd === 'trust' ? `trust ${positionals[0]}` : cmd;
  if (opts.out === undefined || opts.out === '-' || !DATA_OUTPUT.has(name)) return undefined;
  return { path: opts.out, secret: SECRET_OUTPUT.has(name) };
}

/** Before anything is sent: FILE's directory exists and FILE is not a directory, so the answer is not lost for want of a place. */
function checkOutput(path: string): void {
  let dir;
  try {
    dir = statSync(dirname(path));
  } catch (e) {
    throw new Failure('IO', `--out ${path}: cannot write there: ${(e as Error).message}`);
  }
  if (!dir.isDirectory()) throw new Failure('IO', `--out ${path}: ${dirname(path)} is not a directory`);
  let st;
  try {
    st = statSync(path);
  } catch {
    return; // a new file
  }
  if (st.isDirectory()) throw new Failure('IO', `--out ${path} is a directory: name a file`);
}

/**
 * Write a command's output to FILE: a new file beside it, then renamed over it, so FILE is never half written and a
 * secret's FILE is 0600 even where an older FILE was readable by others. A device or a pipe (/dev/stdout) is written
 * to as it is, never replaced.
 */
function writeOutput(path: string, data: string | Uint8Array, secret: boolean): void {
  let target = path;
  try {
    const st = statSync(path);
    if (!st.isFile()) {
      writeFileSync(path, data);
      return;
    }
    target = realpathSync(path); // a symbolic link keeps pointing at the file it named
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Failure('IO', `cannot write ${path}: ${(e as Error).message}`);
  }
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, data, { mode: secret ? 0o600 : 0o666, flag: 'wx' });
    if (secret) chmodSync(tmp, 0o600);
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new Failure('IO', `cannot write ${path}: ${(e as Error).message}`);
  }
}

/** Where nobody can be asked (standard input is not a terminal), a destructive command needs --force: refused before anything is sent. */
function needForceUnlessAsked(opts: Opts, what: string): void {
  if (!opts.force && !canAsk()) throw new UsageError(`${what}: add --force to go ahead (standard input is not a terminal, so it cannot be asked)`);
}

/**
 * The go-ahead for a destructive command (README "Using the CLI", --force): --force, or on a terminal the person types
 * `expected`; without a terminal and without --force it is refused (exit 2) before anything happens. Anything else
 * typed, or Ctrl-C / Ctrl-D, cancels (exit 130).
 */
async function confirm(opts: Opts, what: string, expected: string, nothing: string): Promise<void> {
  if (opts.force) return;
  needForceUnlessAsked(opts, what);
  const typed = await askLine(`${what}. Type ${expected} to go on: `, nothing);
  if (typed !== expected) throw new Cancelled(`not confirmed; ${nothing}`);
}

// ---------------------------------------------------------------- PINs

/** A value from a flag or, when the flag is absent, from an environment variable (an empty variable counts as unset). */
function fromFlagOrEnv(flag: string | undefined, env: string): string | undefined {
  if (flag !== undefined) return flag;
  const v = process.env[env];
  return v !== undefined && v !== '' ? v : undefined;
}

const canAsk = () => process.stdin.isTTY === true && typeof process.stdin.setRawMode === 'function';

/**
 * Read one line from the terminal in raw mode without echo (the prompt goes to stderr, so --json output stays clean).
 * Backspace deletes, Ctrl-U clears, Enter ends, Ctrl-C / Ctrl-D cancel.
 */
function askHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  return new Promise((resolve, reject) => {
    const chars: string[] = [];
    // echo off BEFORE the prompt shows: a PIN typed (or pasted) the moment the prompt appears must not be echoed
    input.setRawMode(true);
    input.resume();
    process.stderr.write(prompt);
    const finish = (error?: Error) => {
      input.removeListener('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      const value = chars.join('');
      chars.length = 0;
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      chunk.fill(0);
      for (const ch of text) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new Cancelled('cancelled at the PIN prompt; nothing was sent'));
        if (ch === '\u0004') {
          if (chars.length === 0) return finish(new Cancelled('no PIN entered; nothing was sent'));
          continue;
        }
        if (ch === '\u007f' || ch === '\b') chars.pop();
        else if (ch === '\u0015') chars.length = 0;
        else if (ch >= ' ') chars.push(ch);
      }
    };
    input.on('data', onData);
  });
}

/** A new PIN asked twice on the terminal. */
async function askNewPin(what: string): Promise<string> {
  const a = await askHidden(`new ${what}: `);
  const b = await askHidden(`repeat the new ${what}: `);
  if (a !== b) throw new UsageError(`the two ${what}s you typed differ; nothing was changed`);
  return a;
}

const ROLE_TEXT: { [r in RoleName]: { what: string; flag: string; env: string } } = {
  user: { what: 'user PIN', flag: '--pin', env: 'HSM_PIN' },
  so: { what: 'SO PIN', flag: '--so-pin', env: 'HSM_SO_PIN' },
  auditor: { what: 'auditor PIN', flag: '--auditor-pin', env: 'HSM_AUDITOR_PIN' },
};

function pinFlag(role: RoleName, opts: Opts): string | undefined {
  if (role === 'auditor') return fromFlagOrEnv(opts['auditor-pin'], 'HSM_AUDITOR_PIN');
  return role === 'user' ? fromFlagOrEnv(opts.pin, 'HSM_PIN') : fromFlagOrEnv(opts['so-pin'], 'HSM_SO_PIN');
}

/** "SIGN needs the user PIN: pass --pin PIN or set HSM_PIN (stdin is not a terminal, so it cannot be asked)". */
function noPin(what: string, roles: RoleName[]): HsmError {
  const ways = roles.map((r) => `the ${ROLE_TEXT[r].what} with ${ROLE_TEXT[r].flag} or ${ROLE_TEXT[r].env}`).join(', or ');
  return new HsmError('LOGIN_REQUIRED', `${what} needs a login: give ${ways} (standard input is not a terminal, so the PIN cannot be asked for)`, { hint: '' });
}

/** Which role logs in, and with what PIN: flags first, then the environment, then the terminal. */
async function credentials(need: RoleName | 'any', opts: Opts, what: string): Promise<{ role: RoleName; pin: string }> {
  if (need === 'any') {
    if (opts.pin !== undefined) return { role: 'user', pin: opts.pin };
    if (opts['so-pin'] !== undefined) return { role: 'so', pin: opts['so-pin'] };
    for (const role of ['user', 'so'] as const) {
      const v = pinFlag(role, opts);
      if (v !== undefined) return { role, pin: v };
    }
    if (!canAsk()) throw noPin(what, ['user', 'so']);
    return { role: 'user', pin: await askHidden('user PIN: ') };
  }
  const v = pinFlag(need, opts);
  if (v !== undefined) return { role: need, pin: v };
  if (!canAsk()) throw noPin(what, [need]);
  return { role: need, pin: await askHidden(`${ROLE_TEXT[need].what}: `) };
}

// ---------------------------------------------------------------- the device

/** Set by main(): aborts a command waiting for the button when the person presses Ctrl-C (the client sends CANCEL). */
let interrupt: AbortSignal | undefined;

/** Prints "touch the device's button" once per command, to stderr. */
function keepaliveReporter(): (e: KeepaliveEvent) => void {
  let told = false;
  return (e) => {
    if (!e.presence || told) return;
    told = true;
    process.stderr.write(`tinyhsm: touch the device's button… (${e.command} with a key that needs a press for every use; Ctrl-C cancels)\n`);
  };
}

async function withClient<T>(opts: Opts, fn: (c: HsmClient) => Promise<T>): Promise<T> {
  const client = await HsmClient.open(opts.device, { trust: opts.trust === true, onKeepalive: keepaliveReporter() });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** A device that has no PINs yet cannot log in: say so before asking anyone for a PIN. */
function requireInitialized(info: InfoResponse, what: string): void {
  if (!info.initialized) throw new HsmError('NOT_INITIALIZED', `${what} refused: the device is factory-new and has no PINs yet`);
}

/** Open, check the device is initialized, log in as `need` ('any': whichever PIN was given, else the user PIN), run. */
async function withLogin<T>(opts: Opts, need: RoleName | 'any', what: string, fn: (c: HsmClient, info: InfoResponse) => Promise<T>): Promise<T> {
  return withClient(opts, async (c) => {
    const info = await c.info();
    requireInitialized(info, what);
    const { role, pin } = await credentials(need, opts, what);
    await c.login(role, pin);
    return fn(c, info);
  });
}

/** The `info` line on identity pinning (docs/session.md §9). */
function pinText(pin: PinState | undefined): string {
  if (!pin) return 'no (the device has no identity key, so no secure session)';
  if (pin.state === 'in-memory') return 'not needed: an in-process simulator this command started';
  if (pin.state === 'pinned') return `yes, since ${pin.entry!.firstSeen} (${pin.path})`;
  if (pin.state === 'not-pinned') return `no: run a command with --trust to pin it (saved in ${pin.path})`;
  return `IDENTITY CHANGED: ${pin.path} has ${pin.entry!.identityKey} since ${pin.entry!.firstSeen}; commands are refused (see docs/session.md §9)`;
}

/** A verified statement as JSON (bytes as hex, names for codes). */
function attestationJson(a: VerifiedAttestation, identityKey: string) {
  return {
    verified: true,
    identityKey,
    statement: {
      format: a.format,
      deviceId: toHex(a.deviceId),
      keyId: a.keyId,
      alg: algName(a.alg),
      publicKey: toHex(a.publicKey),
      origin: originName(a.origin),
      ...policyJson(a),
      nonce: toHex(a.nonce),
    },
    statementCbor: toHex(a.statementBytes),
    signature: toHex(a.signature),
  };
}

/** What the ssh-agent and ssh-ca commands (tools/cli-ssh.ts) take from this file. */
function sshHelpers(): SshCliHelpers<Opts> {
  return { credentials, withLogin, usage: (m) => new UsageError(m), failure: (status, m) => new Failure(status, m), interrupt };
}

/** Run one subcommand; returns the JSON object to print and the human text. */
async function run(cmd: string, positionals: string[], opts: Opts): Promise<{ json: object; text: string; bytes?: Uint8Array }> {
  switch (cmd) {
    case 'info':
      return withClient(opts, async (c) => {
        const i = await c.info();
        // INFO travels in the clear: show whether this host would accept the device, without pinning it
        const pin = i.identityPublicKey ? c.pinState(i.deviceId, i.identityPublicKey) : undefined;
        const failures: { [name: string]: string } = {};
        for (const k in i.selftestFailures || {}) failures[algName(Number(k))] = (i.selftestFailures as { [k: number]: string })[Number(k)];
        const json = {
          deviceId: toHex(i.deviceId),
          firmwareVersion: i.firmwareVersion,
          protocolVersion: i.protocolVersion,
          platform: i.platform,
          maxPacket: i.maxPacket,
          algorithms: i.algorithms.map(algName),
          selftestFailures: failures,
          slotsUsed: i.slotsUsed,
          slotsFree: i.slotsFree,
          identityPublicKey: i.identityPublicKey ? toHex(i.identityPublicKey) : null,
          pinned: pin ? pin.state : null,
          knownDevices: pin && pin.path ? pin.path : null,
          initialized: i.initialized,
          label: i.label !== undefined ? i.label : null,
          userPinTries: i.userPinTries !== undefined ? i.userPinTries : null,
          soPinTries: i.soPinTries !== undefined ? i.soPinTries : null,
          pinLocked: i.pinLocked === true,
          pinIterations: i.pinIterations,
          presence: i.presence,
          rollbackProtection: i.rollbackProtection === true,
          rolledBack: i.rolledBack === true,
          threshold: i.threshold ?? null,
          officers: (i.officers || []).map((o) => ({ label: o.label, fingerprint: toHex(o.fingerprint) })),
          domainId: i.domainId ? toHex(i.domainId) : null,
          withoutDomain: i.withoutDomain === true,
          flash: {
            pageSize: i.flashPageSize,
            pages: i.flashPages,
            bytesUsed: i.flashBytesUsed,
            bytesFree: i.flashBytesFree,
            eraseCounts: i.flashEraseCounts,
            volatile: i.flashVolatile === true,
          },
        };
        const tries = (n: number | null) => (n === null ? '?' : n === 0 ? 'BLOCKED' : `${n} tries left`);
        const lines = [
          `device id     ${json.deviceId}`,
          `firmware      ${json.firmwareVersion} (protocol ${json.protocolVersion}, ${json.platform})`,
          `initialized   ${json.initialized ? `yes${json.label ? `, label ${JSON.stringify(json.label)}` : ''}` : 'no: factory-new; set its PINs with `tinyhsm init --pin USER --so-pin SO`'}`,
          ...(json.initialized
            ? [
                `PINs          user ${tries(json.userPinTries)}, SO ${tries(json.soPinTries)}${json.pinLocked ? '; LOCKED until a power cycle (3 wrong PINs in a row)' : ''} (PBKDF2-SHA256, ${json.pinIterations} iterations)`,
              ]
            : []),
          `algorithms    ${json.algorithms.join(', ') || '(none passed self-test)'}`,
          ...Object.entries(failures).map(([a, why]) => `not offered   ${a}: ${why}`),
          `identity      ${json.identityPublicKey || '(none yet: Ed25519 is not offered)'}`,
          `pinned        ${pinText(pin)}`,
          `button        ${json.presence ? 'yes (keys may require a touch per use)' : 'no (keys that require a touch cannot be used here)'}`,
          `rollback      ${
            json.rolledBack
              ? "REFUSED: the flash is older than the device's monotonic counter (an old image was written back); only INFO and ECHO work"
              : json.rollbackProtection
                ? 'protected: a monotonic counter binds the flash, an old image written back is refused'
                : 'not protected: this board has no monotonic counter, an old flash image written back would be used'
          }`,
          `officers      ${json.threshold ? `${json.threshold} of ${json.officers.length} must approve reset, officer changes and loosening: ${json.officers.map((o) => o.label).join(', ')}` : 'none (`tinyhsm officer set` enrols them)'}`,
          `domain        ${json.withoutDomain ? "not in this board's build (no domain, backup or restore here)" : json.domainId ? `${json.domainId} (backup and restore within it, approved by the officers)` : 'none (`tinyhsm domain create`, or join one)'}`,
          `key slots     ${json.slotsUsed} used, ${json.slotsFree} free`,
          `flash         ${json.flash.pages} pages of ${json.flash.pageSize} bytes, ${json.flash.bytesUsed} used, about ${json.flash.bytesFree} free, erases ${Math.min(...json.flash.eraseCounts)}..${Math.max(...json.flash.eraseCounts)} per page${json.flash.volatile ? ' (RAM only: lost at power-off)' : ''}`,
          `max packet    ${json.maxPacket} bytes`,
        ];
        return { json, text: lines.join('\n') };
      });
    case 'init': {
      const given = { user: fromFlagOrEnv(opts.pin, 'HSM_PIN'), so: fromFlagOrEnv(opts['so-pin'], 'HSM_SO_PIN') };
      if ((given.user === undefined || given.so === undefined) && !canAsk())
        throw new UsageError(
          `init needs both PINs: --pin USER and --so-pin SO (or HSM_PIN and HSM_SO_PIN); standard input is not a terminal, so they cannot be asked for`,
        );
      return withClient(opts, async (c) => {
        const info = await c.info();
        if (info.initialized)
          throw new HsmError(
            'ALREADY_INITIALIZED',
            `device ${toHex(info.deviceId)} already has PINs${info.label ? ` (label ${JSON.stringify(info.label)})` : ''}`,
          );
        const userPin = given.user !== undefined ? given.user : await askNewPin('user PIN');
        const soPin = given.so !== undefined ? given.so : await askNewPin('SO PIN');
        const quorum = opts.officer !== undefined || opts.threshold !== undefined ? officerFlags(opts) : undefined;
        await c.init({ userPin, soPin, label: opts.label, officers: quorum });
        const json = {
          initialized: true,
          deviceId: toHex(info.deviceId),
          label: opts.label !== undefined ? opts.label : null,
          threshold: quorum ? quorum.threshold : null,
          officers: quorum ? quorum.officers.map((o) => ({ label: o.label, fingerprint: toHex(officerFingerprint(o.publicKey)) })) : [],
        };
        return {
          json,
          text:
            `initialized device ${json.deviceId}${opts.label ? ` (label ${JSON.stringify(opts.label)})` : ''}: the user PIN and the SO PIN are set.\n` +
            (quorum
              ? `Officers: ${quorum.threshold} of ${quorum.officers.map((o) => o.label).join(', ')} must approve reset, officer changes and loosening.\n`
              : '') +
            'Key use logs in with the user PIN (--pin or HSM_PIN), administration with the SO PIN (--so-pin or HSM_SO_PIN).',
        };
      });
    }
    case 'keygen':
    case 'import': {
      const alg = needAlg(opts.alg);
      const priv = cmd === 'import' ? needPrivateKey(opts) : undefined;
      const policy = creationPolicy(opts, alg);
      return withLogin(opts, cmd === 'import' ? 'so' : 'user', cmd === 'import' ? 'KEY_IMPORT' : 'KEY_GENERATE', async (c) => {
        try {
          const r = priv ? await c.importKey(algName(alg), priv, opts.label, policy) : await c.generateKey(algName(alg), opts.label, policy);
          const json = { id: r.keyId, alg: algName(alg), publicKey: toHex(r.publicKey) };
          return { json, text: `key ${r.keyId} (${json.alg}) ${json.publicKey}` };
        } finally {
          if (priv) priv.fill(0);
        }
      });
    }
    case 'list':
      return withLogin(opts, 'any', 'KEY_LIST', async (c) => {
        const keys = (await c.listKeys()).map((k) => ({
          id: k.keyId,
          alg: algName(k.alg),
          label: k.label,
          origin: originName(k.origin),
          publicKey: toHex(k.publicKey),
          ...policyJson(k),
        }));
        const text = keys.length
          ? keys
              .map(
                (k) =>
                  `${String(k.id).padStart(5)}  ${k.alg.padEnd(16)} ${k.origin.padEnd(9)} ${(k.capabilities.join(',') || '-').padEnd(10)}${k.touch ? ' touch' : ''}${k.protected ? ' protected' : ''} ${k.label ? JSON.stringify(k.label) + ' ' : ''}${k.publicKey}`,
              )
              .join('\n')
          : '(no keys)';
        return { json: { keys }, text };
      });
    case 'pubkey': {
      const keyId = needKeyId(opts.key);
      const format = opts.format || 'hex';
      if (!['hex', 'pem', 'ssh'].includes(format)) throw new UsageError(`--format must be hex, pem or ssh, got "${format}"`);
      return withLogin(opts, 'any', 'KEY_PUBLIC', async (c) => {
        const { alg, publicKey, label } = await c.publicKey(keyId);
        const json: { [k: string]: string | number } = { id: keyId, alg: algName(alg), publicKey: toHex(publicKey) };
        let text = json.publicKey as string;
        try {
          if (format === 'pem') text = json.pem = publicKeyToPem(alg, publicKey).trimEnd();
          // the comment ssh-add -L gives the key through `tinyhsm ssh-agent`, so the two lines are the same
          if (format === 'ssh') text = json.ssh = publicKeyToSsh(alg, publicKey, sshComment(keyId, label));
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
        return { json, text };
      });
    }
    case 'sign':
      return signCommand(opts);
    case 'ecdh': {
      const keyId = needKeyId(opts.key);
      const file = opts['peer-file'];
      if ((opts.peer === undefined) === (file === undefined))
        throw new UsageError('give the peer public key once: --peer HEX, or --peer-file FILE (PEM, DER or hex; - reads standard input)');
      const peer = file === undefined ? needHex(opts.peer, 'peer') : peerFromFile(file);
      return withLogin(opts, 'user', 'ECDH', async (c) => {
        if (!(peer instanceof Uint8Array)) checkPeerCurve(keyId, (await c.publicKey(keyId)).alg, peer, file === '-' ? 'standard input' : (file as string));
        const s = await c.ecdh(keyId, peer instanceof Uint8Array ? peer : peer.publicKey, { signal: interrupt });
        return { json: { id: keyId, sharedSecret: toHex(s) }, text: toHex(s) };
      });
    }
    case 'attest': {
      const keyId = needKeyId(opts.key);
      const nonce = opts.nonce !== undefined ? needHex(opts.nonce, 'nonce') : undefined;
      if (nonce && (nonce.length < MIN_NONCE || nonce.length > MAX_NONCE))
        throw new UsageError(`--nonce must be ${MIN_NONCE} to ${MAX_NONCE} bytes, got ${nonce.length}`);
      return withLogin(opts, 'any', 'KEY_ATTEST', async (c) => {
        const a = await c.keyAttest(keyId, { nonce });
        const identityKey = c.pinnedIdentity!.identityKey;
        const json = attestationJson(a, identityKey);
        const text = [
          `attestation   VERIFIED: signed by the pinned identity key ${identityKey}`,
          `device id     ${json.statement.deviceId}`,
          `key           ${a.keyId} (${json.statement.alg}), ${a.origin === 1 ? 'generated on this device' : 'imported: not born in this device'}`,
          `public key    ${json.statement.publicKey}`,
          `policy        ${policyText(a)}`,
          `nonce         ${json.statement.nonce}`,
          `statement     ${json.statementCbor}`,
          `signature     ${json.signature}`,
        ].join('\n');
        return { json, text };
      });
    }
    case 'policy': {
      const keyId = needKeyId(opts.key);
      const approve = opts.approve || [];
      if (opts.exportable && approve.length === 0)
        throw new UsageError('a policy can only be tightened: --exportable would loosen it (only with --approve KEY... of M officers)');
      const remove = opts['remove-capabilities'] !== undefined ? capabilityFlag(opts['remove-capabilities'], 'remove-capabilities') : undefined;
      const exact = opts.capabilities !== undefined ? capabilityFlag(opts.capabilities, 'capabilities') : undefined;
      if (remove !== undefined && exact !== undefined) throw new UsageError('give --capabilities LIST (the new set) or --remove-capabilities LIST, not both');
      if (opts.unprotect && approve.length === 0) throw new UsageError('--unprotect loosens the policy: it needs --approve KEY... of M officers');
      const change =
        remove !== undefined ||
        exact !== undefined ||
        opts.touch === true ||
        opts.sensitive === true ||
        opts.exportable === true ||
        opts.protected === true ||
        opts.unprotect === true;
      return withLogin(opts, change ? 'user' : 'any', change ? 'KEY_SET_POLICY' : 'KEY_PUBLIC', async (c) => {
        const k = await c.publicKey(keyId);
        let policy: KeyPolicy & { protected?: boolean } = k;
        if (change) {
          const req: KeyPolicyOptions = {};
          if (exact !== undefined) req.capabilities = exact;
          if (remove !== undefined) req.capabilities = k.capabilities & ~remove;
          if (opts.exportable) req.capabilities = ((req.capabilities as number | undefined) ?? k.capabilities) | Capability.EXPORT_WRAPPED;
          if (opts.touch) req.touch = true;
          if (opts.sensitive) req.sensitive = true;
          if (opts.protected) req.protected = true;
          if (opts.unprotect) req.protected = false;
          const approvals = approve.length ? await approveInProcess(c, Command.KEY_SET_POLICY, c.keySetPolicyRequest(keyId, req), approve) : undefined;
          policy = await c.keySetPolicy(keyId, req, undefined, approvals);
        }
        const json = { id: keyId, alg: algName(k.alg), label: k.label, origin: originName(k.origin), ...policyJson(policy) };
        return {
          json,
          text: `key ${keyId} (${json.alg}${k.label ? ' ' + JSON.stringify(k.label) : ''}, ${json.origin}): ${change ? 'policy now ' : ''}${policyText(policy)}`,
        };
      });
    }
    case 'delete': {
      const keyId = needKeyId(opts.key);
      const approve = opts.approve || [];
      needForceUnlessAsked(opts, `delete wipes key ${keyId} for good`);
      return withLogin(opts, 'user', 'KEY_DELETE', async (c) => {
        if (!opts.force) {
          // on a terminal: name the key, so the one typed is the one meant
          const k = await c.publicKey(keyId);
          const what = `${algName(k.alg)}${k.label ? ` ${JSON.stringify(k.label)}` : ''}`;
          await confirm(opts, `this deletes key ${keyId} (${what}) and wipes its private bytes for good`, String(keyId), 'nothing was deleted');
        }
        await c.deleteKey(keyId, undefined, approve.length ? await approveInProcess(c, Command.KEY_DELETE, { keyId }, approve) : undefined);
        return { json: { deleted: keyId }, text: `deleted key ${keyId}` };
      });
    }
    case 'change-pin': {
      const role: RoleName = opts.so ? 'so' : 'user';
      const t = ROLE_TEXT[role];
      const newFlag = opts['new-pin'];
      if (newFlag === undefined && !canAsk())
        throw new UsageError(`change-pin needs --new-pin NEW (standard input is not a terminal, so it cannot be asked for)`);
      return withClient(opts, async (c) => {
        const info = await c.info();
        requireInitialized(info, 'CHANGE_PIN');
        const old = pinFlag(role, opts) ?? (canAsk() ? await askHidden(`current ${t.what}: `) : undefined);
        if (old === undefined) throw noPin('CHANGE_PIN', [role]);
        const next = newFlag !== undefined ? newFlag : await askNewPin(t.what);
        await c.changePin(role, old, next);
        return { json: { changed: role }, text: `the ${t.what} is changed` };
      });
    }
    case 'unblock': {
      const newFlag = opts['new-pin'];
      if (newFlag === undefined && !canAsk())
        throw new UsageError('unblock needs --new-pin NEW, the new user PIN (standard input is not a terminal, so it cannot be asked for)');
      return withLogin(opts, 'so', 'UNBLOCK', async (c) => {
        const next = newFlag !== undefined ? newFlag : await askNewPin('user PIN');
        await c.unblock(next);
        const after = await c.info();
        return {
          json: { unblocked: true, userPinTries: after.userPinTries !== undefined ? after.userPinTries : null },
          text: `the user PIN is set anew and unblocked${after.userPinTries !== undefined ? ` (${after.userPinTries} tries)` : ''}`,
        };
      });
    }
    case 'random': {
      const n = Number(positionals[0]);
      if (!Number.isInteger(n) || n < 1 || n > 1024) throw new UsageError('usage: tinyhsm random N (N from 1 to 1024)');
      return withClient(opts, async (c) => {
        const r = await c.random(n);
        return { json: { random: toHex(r) }, text: toHex(r) };
      });
    }
    case 'officer':
      return officerCommand(positionals, opts);
    case 'reset':
      return resetCommand(opts);
    case 'approval':
      return approvalCommand(positionals, opts);
    case 'domain':
      return domainCommand(positionals, opts);
    case 'backup':
      return backupCommand(opts);
    case 'restore':
      return restoreCommand(opts);
    case 'clone':
      return cloneCommand(opts);
    case 'audit':
      return auditCommand(positionals, opts);
    case 'trust':
      return trustCommand(positionals, opts);
    case 'ssh-agent':
      return sshAgentCommand(positionals, opts, sshHelpers());
    case 'ssh-ca':
      return sshCaCommand(positionals, opts, sshHelpers());
    case 'pkcs11':
      return pkcs11Command(positionals, opts, { usage: (m) => new UsageError(m), failure: (status, m) => new Failure(status, m), interrupt });
    case 'ca':
      return caCommand(positionals, opts, { withLogin, usage: (m) => new UsageError(m), failure: (status, m) => new Failure(status, m) });
    case 'jwt':
      return jwtCommand(positionals, opts, { withLogin, usage: (m) => new UsageError(m), failure: (status, m) => new Failure(status, m) });
    case 'devices': {
      const { discoverDevices } = await import('../host/discovery.ts');
      const found = await discoverDevices();
      const json = { devices: found };
      return { json, text: found.length ? found.map((d: { path: string }) => d.path).join('\n') : 'no tinyhsm found on serial ports' };
    }
    case 'demo':
      return demo(opts);
    default:
      throw unknownCommand(cmd);
  }
}

// ---------------------------------------------------------------- sign: any size, any format (docs/protocol.md §4.1)

/** A message at least this long shows a progress bar (on a terminal). */
const PROGRESS_FROM = 1 << 20;

/**
 * A progress bar on standard error for a long message, when standard error is a terminal and the output is not
 * --json: how much of the message the host's hash and the device's passes have read. Redrawn at most every 100 ms.
 */
function progressBar(length: number, opts: Opts): ((done: number, total: number) => void) | undefined {
  if (length < PROGRESS_FROM || opts.json || !process.stderr.isTTY) return undefined;
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (done < total && now - last < 100) return;
    last = now;
    const width = 30;
    const filled = Math.round((done / total) * width);
    const mb = (n: number) => (n / 1e6).toFixed(1);
    process.stderr.write(
      `\rsigning ${String(Math.floor((done / total) * 100)).padStart(3)}% [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${mb(done)}/${mb(total)} MB read`,
    );
    if (done >= total) process.stderr.write('\n');
  };
}

/**
 * Standard input copied to a new file only this user can read (a signature may read its message three times, and
 * standard input can be read once), in constant memory. Returns the file; the caller removes its directory.
 */
async function spoolStdin(): Promise<string> {
  if (stdinReader !== undefined) throw new UsageError(`--in - and ${stdinReader} - both read standard input: give one of them a file`);
  stdinReader = '--in';
  const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-sign-'));
  const path = join(dir, 'message');
  const fd = openSync(path, 'wx', 0o600);
  try {
    for await (const chunk of process.stdin) writeSync(fd, chunk as Buffer);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new Failure('IO', `--in: cannot read standard input: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
  return path;
}

async function signCommand(opts: Opts): Promise<{ json: object; text: string; bytes?: Uint8Array }> {
  const keyId = needKeyId(opts.key);
  if ((opts.data === undefined) === (opts.in === undefined)) throw new UsageError('give exactly one of --data HEX and --in FILE (--in - reads standard input)');
  const format = (opts.format ?? 'hex') as SignatureFormat;
  if (!SIGNATURE_FORMATS.includes(format)) throw new UsageError(`--format ${opts.format}: a signature is written as ${SIGNATURE_FORMATS.join(', ')}`);
  if (opts.context !== undefined && !opts.prehashed) throw new UsageError('--context is for --prehashed (Ed25519ph, RFC 8032 §5.1)');
  const context = opts.context !== undefined ? needHex(opts.context, 'context') : undefined;
  if (context !== undefined && context.length > 255) throw new UsageError(`--context is ${context.length} bytes; Ed25519ph takes at most 255`);
  const out = dataOut('sign', [], opts);
  // binary on a terminal is unreadable and can upset it: ask for a file or a pipe instead
  if ((format === 'raw' || format === 'der') && !opts.json && !out && process.stdout.isTTY)
    throw new UsageError(`--format ${format} writes bytes: give --out FILE or send standard output to a file or a pipe`);
  let spool: string | undefined;
  try {
    let message: Uint8Array | MessageSource;
    if (opts.data !== undefined) message = needHex(opts.data, 'data');
    else if (opts.in === '-') message = fileSource((spool = await spoolStdin()));
    else
      try {
        message = fileSource(opts.in as string);
      } catch (e) {
        throw new Failure('IO', `--in: cannot read ${opts.in}: ${(e as Error).message}`);
      }
    // --digest: the input is the digest itself, small by definition
    const digest = opts.digest ? (message instanceof Uint8Array ? message : readInput(spool ?? (opts.in as string), '--in')) : undefined;
    if (digest !== undefined && digest.length !== 32 && digest.length !== 64)
      throw new UsageError(`--digest: the input is ${digest.length} bytes; a digest is 32 (SHA-256, ECDSA) or 64 (SHA-512, --prehashed)`);
    return await withLogin(opts, 'user', 'SIGN', async (c) => {
      const { alg } = await c.publicKey(keyId, { signal: interrupt });
      if (format === 'der' && alg !== Alg.ECDSA_P256 && alg !== Alg.ECDSA_SECP256K1)
        throw new UsageError(`--format der is for ECDSA keys; key ${keyId} is ${algName(alg)}, whose signature is its 64 raw bytes (use raw, hex or base64)`);
      const length = digest !== undefined ? digest.length : message.length;
      const input =
        digest !== undefined ? { digest: new Uint8Array(digest), prehashed: opts.prehashed, context } : { message, prehashed: opts.prehashed, context };
      const signature = await c.sign(keyId, input, { signal: interrupt, onProgress: progressBar(length, opts) });
      const encoded = encodeSignature(alg, signature, format);
      const shown = typeof encoded === 'string' ? encoded : toHex(encoded);
      return {
        json: { id: keyId, alg: algName(alg), format, signature: shown, ...(opts.prehashed ? { prehashed: true } : {}) },
        text: shown,
        bytes: typeof encoded === 'string' ? undefined : encoded,
      };
    });
  } finally {
    if (spool !== undefined) rmSync(dirname(spool), { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- officers (docs/quorum.md §6)

/** An officer key's passphrase: HSM_OFFICER_PASSPHRASE, else asked on the terminal (twice for a new key). */
async function officerPassphrase(what: string, twice = false): Promise<string> {
  const env = fromFlagOrEnv(undefined, 'HSM_OFFICER_PASSPHRASE');
  if (env !== undefined) return env;
  if (!canAsk()) throw new UsageError(`${what} needs its passphrase: set HSM_OFFICER_PASSPHRASE (standard input is not a terminal, so it cannot be asked for)`);
  const a = await askHidden(`passphrase for ${what}: `);
  if (twice && (await askHidden(`repeat the passphrase for ${what}: `)) !== a) throw new UsageError('the two passphrases you typed differ; no key was made');
  return a;
}

/** The officers INFO lists, or a clear refusal where none are enrolled (then nothing needs their approval). */
function officersOf(info: InfoResponse, what: string): { threshold: number; officers: { fingerprint: Uint8Array; label: string }[] } {
  if (info.threshold === undefined || info.officers === undefined)
    throw new UsageError(`device ${toHex(info.deviceId)} has no officers, so ${what} takes no approvals (see \`tinyhsm officer set\`)`);
  return { threshold: info.threshold, officers: info.officers };
}

/** Ask the device for a challenge and sign the request with each --approve key file here (one passphrase each). */
async function approveInProcess(c: HsmClient, command: number, request: object, keys: string[]): Promise<ApprovalSet> {
  const info = await c.info();
  const { threshold, officers } = officersOf(info, String(nameOf(Command, command)));
  const file = requestFile(await c.approvalRequest(command, request), threshold, officers);
  const { request: req } = readRequestFile(file, 'the request');
  for (const path of keys) {
    const pub = readOfficerPublic(path);
    const { privateKey, officer } = openOfficerKey(path, await officerPassphrase(`officer key ${path} (${pub.label})`));
    await addApproval(file, req, officer.publicKey, keySigner(privateKey));
  }
  return approvalSetOf(file);
}

/** What a ceremony file asks for, decoded from its params (never from text in the file). */
function requestSummary(f: RequestFile, req: ApprovalRequest): string {
  const fields = JSON.stringify(req.request, (_k, v) => (v instanceof Uint8Array ? toHex(v) : v));
  return [
    `command       ${f.command} (0x${f.code.toString(16).padStart(2, '0')})`,
    `parameters    ${fields}`,
    `device        ${f.deviceId}`,
    `challenge     ${f.challenge}`,
    `approvals     ${f.approvals.length} of ${f.threshold} needed: ${f.approvals.map((a) => a.label).join(', ') || 'none yet'}`,
    f.approvals.length >= f.threshold
      ? 'next          enough approvals: the operator runs `tinyhsm approval submit FILE`'
      : `next          ${f.threshold - f.approvals.length} more: one of ${f.officers
          .filter((_, i) => !f.approvals.some((a) => a.officer === i))
          .map((o) => o.label)
          .join(', ')} runs \`tinyhsm approval sign FILE --officer-key KEY\``,
  ].join('\n');
}

function readCeremony(path: string | undefined): { file: RequestFile; request: ApprovalRequest; path: string } {
  if (path === undefined) throw new UsageError('give the ceremony file: tinyhsm approval sign|submit FILE');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Failure('IO', `cannot read ${path}: ${(e as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${path} is not a ceremony file: ${(e as Error).message}`);
  }
  return { ...readRequestFile(v, path), path };
}

/** The request of `approval request KIND`: RESET, OFFICERS_SET or KEY_SET_POLICY from the flags. */
function ceremonyRequest(kind: string | undefined, opts: Opts): { command: number; request: (c: HsmClient) => object } {
  if (kind === 'reset') return { command: Command.RESET, request: () => ({}) };
  if (kind === 'officer-set') {
    const { threshold, officers } = officerFlags(opts);
    return { command: Command.OFFICERS_SET, request: (c) => c.officersRequest(threshold, officers) };
  }
  if (kind === 'delete') {
    const keyId = needKeyId(opts.key);
    return { command: Command.KEY_DELETE, request: () => ({ keyId }) };
  }
  if (kind === 'domain-join') {
    const join = readJson<JoinFile>(opts.join, JOIN_FORMAT, '--join JOIN');
    return {
      command: Command.DOMAIN_JOIN,
      request: (c) =>
        c.domainJoinRequest(
          hexField(join.domainId),
          join.shares.map((s) => hexField(s.sealed)),
        ),
    };
  }
  if (kind === 'backup') {
    const keyIds = (opts.keys ?? '').split(',').map((x) => needKeyId(x.trim()));
    if (keyIds.length > MAX_BACKUP_KEYS) throw new UsageError(`one backup request holds at most ${MAX_BACKUP_KEYS} keys; \`tinyhsm backup\` batches more`);
    return { command: Command.BACKUP_EXPORT, request: () => ({ keyIds }) };
  }
  if (kind === 'restore') {
    const file = readJson<BackupFile>(opts.in, BACKUP_FORMAT, '--in FILE');
    if (file.blobs.length !== 1)
      throw new UsageError(`${opts.in} holds ${file.blobs.length} blobs; a ceremony restores one (\`tinyhsm restore\` does them all)`);
    return { command: Command.BACKUP_IMPORT, request: () => ({ blob: hexField(file.blobs[0]) }) };
  }
  if (kind === 'policy') {
    const keyId = needKeyId(opts.key);
    if (opts.capabilities === undefined && !opts.exportable)
      throw new UsageError('approval request policy needs --capabilities LIST (the new set) and/or --exportable');
    const caps = opts.capabilities !== undefined ? capabilityFlag(opts.capabilities, 'capabilities') : undefined;
    if (caps === undefined)
      throw new UsageError('approval request policy needs --capabilities LIST, the whole new set (with --exportable to add export-under-wrap)');
    const p: KeyPolicyOptions = { capabilities: opts.exportable ? caps | Capability.EXPORT_WRAPPED : caps };
    return { command: Command.KEY_SET_POLICY, request: (c) => c.keySetPolicyRequest(keyId, p) };
  }
  throw new UsageError(
    'usage: tinyhsm approval request (reset | officer-set --threshold M --officer FILE... | policy --key ID --capabilities LIST | delete --key ID | domain-join --join JOIN | backup --keys ID,... | restore --in FILE) --out FILE',
  );
}

function officerFlags(opts: Opts): { threshold: number; officers: OfficerPublic[] } {
  const files = opts.officer || [];
  if (files.length === 0) throw new UsageError('give each officer with --officer FILE (the .pub or key file of `tinyhsm officer keygen`)');
  const threshold = Number(opts.threshold);
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > files.length)
    throw new UsageError(`--threshold M must be from 1 to the number of officers (${files.length}), got "${opts.threshold ?? ''}"`);
  return { threshold, officers: files.map(readOfficerPublic) };
}

async function officerCommand(positionals: string[], opts: Opts): Promise<{ json: object; text: string }> {
  const sub = positionals[0];
  if (sub === 'keygen') {
    if (opts.out === undefined || opts.label === undefined) throw new UsageError('usage: tinyhsm officer keygen --label NAME --out FILE');
    const passphrase = await officerPassphrase(`the new officer key ${opts.out}`, true);
    const k = newOfficerKey(opts.label, passphrase);
    try {
      writePrivateFile(opts.out, k.file);
      writePrivateFile(opts.out + '.pub', k.publicFile);
    } catch (e) {
      throw new Failure('IO', `cannot write ${opts.out} or ${opts.out}.pub (an existing file is never overwritten): ${(e as Error).message}`);
    }
    const json = {
      label: opts.label,
      publicKey: toHex(k.officer.publicKey),
      fingerprint: toHex(officerFingerprint(k.officer.publicKey)),
      file: opts.out,
      publicFile: opts.out + '.pub',
    };
    return {
      json,
      text: `officer key ${JSON.stringify(opts.label)} in ${opts.out} (encrypted; keep it and its passphrase to yourself)\npublic half in ${json.publicFile}: give it to the SO\nfingerprint ${json.fingerprint}`,
    };
  }
  if (sub === 'export') {
    // an officer whose key lives on a tinyhsm: the public half of an Ed25519 key there, as the SO enrols it
    const keyId = needKeyId(opts.key);
    if (opts.out === undefined || opts.label === undefined) throw new UsageError('usage: tinyhsm officer export --key ID --label NAME --out FILE.pub');
    return withLogin(opts, 'any', 'KEY_PUBLIC', async (c) => {
      const k = await c.publicKey(keyId);
      if (k.alg !== Alg.ED25519) throw new UsageError(`key ${keyId} is ${algName(k.alg)}; an officer key is Ed25519`);
      if ((k.capabilities & Capability.SIGN) === 0) throw new UsageError(`key ${keyId} cannot sign (its policy has no sign capability)`);
      const text = publicJson({ publicKey: k.publicKey, label: opts.label as string });
      try {
        writeFileSync(opts.out as string, text, { flag: 'wx' });
      } catch (e) {
        throw new Failure('IO', `cannot write ${opts.out} (an existing file is never overwritten): ${(e as Error).message}`);
      }
      const json = { label: opts.label, publicKey: toHex(k.publicKey), fingerprint: toHex(officerFingerprint(k.publicKey)), publicFile: opts.out };
      return { json, text: `officer ${JSON.stringify(opts.label)}: key ${keyId} of this device, public half in ${opts.out}\nfingerprint ${json.fingerprint}` };
    });
  }
  if (sub === 'list')
    return withClient(opts, async (c) => {
      const i = await c.info();
      const officers = (i.officers || []).map((o, n) => ({ index: n, label: o.label, fingerprint: toHex(o.fingerprint) }));
      const json = { threshold: i.threshold ?? null, officers };
      return {
        json,
        text: officers.length
          ? [
              `threshold     ${i.threshold} of ${officers.length}`,
              ...officers.map((o) => `officer ${String(o.index).padEnd(5)} ${o.fingerprint} ${JSON.stringify(o.label)}`),
            ].join('\n')
          : 'no officers: gated commands need the SO alone (see `tinyhsm officer set`)',
      };
    });
  if (sub === 'set') {
    const { threshold, officers } = officerFlags(opts);
    return withLogin(opts, 'so', 'OFFICERS_SET', async (c) => {
      const approve = opts.approve || [];
      const approvals = approve.length ? await approveInProcess(c, Command.OFFICERS_SET, c.officersRequest(threshold, officers), approve) : undefined;
      await c.setOfficers(threshold, officers, approvals);
      const json = { threshold, officers: officers.map((o) => ({ label: o.label, fingerprint: toHex(officerFingerprint(o.publicKey)) })) };
      return { json, text: `officers set: ${threshold} of ${officers.length} must approve (${officers.map((o) => o.label).join(', ')})` };
    });
  }
  throw new UsageError(
    'usage: tinyhsm officer (keygen --label NAME --out FILE | export --key ID --label NAME --out FILE.pub | list | set --threshold M --officer FILE... [--approve KEY...])',
  );
}

async function resetCommand(opts: Opts): Promise<{ json: object; text: string }> {
  await confirm(opts, 'reset erases every key, both PINs, the officers and the domain of the device', 'reset', 'nothing was erased');
  const approve = opts.approve || [];
  const done = async (c: HsmClient, deviceId: Uint8Array) => ({
    json: { reset: true, deviceId: toHex(deviceId) },
    text: `device ${toHex(deviceId)} is factory-new: keys, PINs, officers and domain erased (its id and identity stay); set PINs with \`tinyhsm init\``,
  });
  if (approve.length === 0)
    return withLogin(opts, 'so', 'RESET', async (c, info) => {
      await c.reset();
      return done(c, info.deviceId);
    });
  return withClient(opts, async (c) => {
    const info = await c.info();
    await c.reset(await approveInProcess(c, Command.RESET, {}, approve));
    return done(c, info.deviceId);
  });
}

// ---------------------------------------------------------------- the known-devices file (docs/session.md §9)

/** The pinned devices, by id; a file that cannot be read, or that others could write, fails with the file's own message. */
function pinnedDevices(kd: KnownDevices): { [deviceIdHex: string]: KnownDevice } {
  try {
    return kd.list();
  } catch (e) {
    if (e instanceof TrustError) throw new Failure('KNOWN_DEVICES_FILE', e.message);
    throw e;
  }
}

/**
 * `trust list` and `trust remove DEVICE_ID [--force]`: the known-devices file read and edited without a device. Removing
 * a device's entry is what lets a device whose identity key changed (its flash erased, the board replaced) be pinned
 * again with --trust, which never replaces a pinned key by itself (docs/session.md §9).
 */
async function trustCommand(positionals: string[], opts: Opts): Promise<{ json: object; text: string }> {
  const kd = new KnownDevices();
  const sub = positionals[0];
  if (sub === 'list') {
    const devices = Object.entries(pinnedDevices(kd))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([id, d]) => ({
        deviceId: id,
        identityKey: d.identityKey,
        fingerprint: identityFingerprint(d.identityKey),
        label: d.label ?? null,
        pinned: d.firstSeen,
      }));
    const text = devices.length
      ? [
          `${'device id'.padEnd(33)}${'fingerprint'.padEnd(17)}${'pinned since'.padEnd(25)}label`,
          ...devices.map((d) => `${d.deviceId} ${d.fingerprint} ${d.pinned.padEnd(24)} ${d.label !== null ? JSON.stringify(d.label) : '-'}`),
          `(${kd.path})`,
        ].join('\n')
      : `no device is pinned in ${kd.path} (a command with --trust pins one)`;
    return { json: { file: kd.path, devices }, text };
  }
  if (sub === 'remove') {
    const given = positionals[1];
    if (given === undefined || positionals.length > 2)
      throw new UsageError('usage: tinyhsm trust remove DEVICE_ID [--force] (the id `tinyhsm trust list` shows, or its first 8 or more hex digits)');
    const want = given.toLowerCase();
    if (!/^[0-9a-f]{8,32}$/.test(want)) throw new UsageError(`DEVICE_ID is a device id (32 hex digits) or its first 8 or more, got "${given}"`);
    needForceUnlessAsked(opts, `trust remove forgets device ${given}`);
    const all = pinnedDevices(kd);
    const hits = Object.keys(all).filter((id) => id.startsWith(want));
    if (hits.length === 0) throw new Failure('NOT_FOUND', `no device ${given} in ${kd.path}; \`tinyhsm trust list\` shows the pinned ones`);
    if (hits.length > 1) throw new UsageError(`${given} begins ${hits.length} device ids (${hits.join(', ')}): give more digits`);
    const id = hits[0];
    const entry = all[id];
    await confirm(
      opts,
      `this forgets device ${id}${entry.label ? ` (${JSON.stringify(entry.label)})` : ''}, pinned since ${entry.firstSeen} with the identity key of fingerprint ${identityFingerprint(entry.identityKey)}; the next command to it needs --trust`,
      id.slice(0, 8),
      'nothing was removed',
    );
    try {
      kd.forget(id);
    } catch (e) {
      if (e instanceof TrustError) throw new Failure('KNOWN_DEVICES_FILE', e.message);
      throw e;
    }
    return {
      json: { removed: id, identityKey: entry.identityKey, file: kd.path },
      text: `removed device ${id} from ${kd.path}: a command with --trust pins it again (compare its identity key with \`tinyhsm info\` first)`,
    };
  }
  throw new UsageError('usage: tinyhsm trust (list | remove DEVICE_ID [--force])');
}

async function approvalCommand(positionals: string[], opts: Opts): Promise<{ json: object; text: string }> {
  const sub = positionals[0];
  if (sub === 'request') {
    const { command, request } = ceremonyRequest(positionals[1], opts);
    if (opts.out === undefined) throw new UsageError('approval request needs --out FILE, the ceremony file the officers sign in turn');
    return withClient(opts, async (c) => {
      const info = await c.info();
      const { threshold, officers } = officersOf(info, String(nameOf(Command, command)));
      const file = requestFile(await c.approvalRequest(command, request(c)), threshold, officers);
      const { request: req } = readRequestFile(file, 'the request');
      try {
        writeFileSync(opts.out as string, JSON.stringify(file, null, 1) + '\n', { flag: 'wx' });
      } catch (e) {
        throw new Failure('IO', `cannot write ${opts.out} (an existing file is never overwritten): ${(e as Error).message}`);
      }
      return { json: file, text: `ceremony file ${opts.out}: a new challenge replaces any earlier one on the device\n${requestSummary(file, req)}` };
    });
  }
  if (sub === 'sign') {
    const { file, request, path } = readCeremony(positionals[1]);
    let who: { officer: number; label: string };
    if (opts['officer-device'] !== undefined) {
      // the officer's key lives on another tinyhsm: that device signs the approval bytes with it (user PIN of that device)
      if (opts['officer-key'] !== undefined) throw new UsageError('give --officer-key KEY or --officer-device DEVICE --key ID, not both');
      const keyId = needKeyId(opts.key);
      who = await withLogin({ ...opts, device: opts['officer-device'] }, 'user', 'SIGN', async (c) => {
        const k = await c.publicKey(keyId);
        if (k.alg !== Alg.ED25519) throw new UsageError(`key ${keyId} on ${opts['officer-device']} is ${algName(k.alg)}; an officer key is Ed25519`);
        return addApproval(file, request, k.publicKey, (m) => c.sign(keyId, { message: m }, { signal: interrupt }));
      });
    } else {
      if (opts['officer-key'] === undefined)
        throw new UsageError('approval sign needs --officer-key KEY (your officer key file) or --officer-device DEVICE --key ID');
      const pub = readOfficerPublic(opts['officer-key']);
      const { privateKey, officer } = openOfficerKey(opts['officer-key'], await officerPassphrase(`officer key ${opts['officer-key']} (${pub.label})`));
      who = await addApproval(file, request, officer.publicKey, keySigner(privateKey));
    }
    writeFileSync(path, JSON.stringify(file, null, 1) + '\n');
    return { json: { approved: who, file }, text: `approved as officer ${who.officer} (${who.label})\n${requestSummary(file, request)}` };
  }
  if (sub === 'submit') {
    const { file, request } = readCeremony(positionals[1]);
    // the role the command's gate asks for (protocol/commands: KEY_SET_POLICY and KEY_DELETE user, OFFICERS_SET SO, RESET none)
    const gate = COMMANDS[file.code].gate;
    const role: RoleName | undefined = gate === Gate.SO ? 'so' : gate === Gate.USER ? 'user' : undefined;
    const send = async (c: HsmClient) => {
      const info = await c.info();
      if (toHex(info.deviceId) !== file.deviceId) throw new UsageError(`this ceremony is for device ${file.deviceId}, not ${toHex(info.deviceId)}`);
      const answer = await c.call(file.code, { ...request.request, ...approvalSetOf(file) });
      if (file.code === Command.BACKUP_EXPORT && opts.out !== undefined && info.domainId !== undefined) {
        const keyIds = (request.request as { keyIds: number[] }).keyIds;
        writeNew(opts.out, {
          format: BACKUP_FORMAT,
          domainId: toHex(info.domainId),
          deviceId: file.deviceId,
          keyIds,
          blobs: [toHex(answer.blob as Uint8Array)],
        });
      }
      const json = { submitted: file.command, deviceId: file.deviceId, approvals: file.approvals.map((a) => a.label), answer };
      return {
        json: JSON.parse(JSON.stringify(json, (_k, v) => (v instanceof Uint8Array ? toHex(v) : v))),
        text: `${file.command} done with the approval of ${json.approvals.join(', ')}`,
      };
    };
    return role ? withLogin(opts, role, file.command, (c) => send(c)) : withClient(opts, send);
  }
  throw new UsageError('usage: tinyhsm approval (request KIND --out FILE | sign FILE --officer-key KEY | submit FILE)');
}

// ---------------------------------------------------------------- domain, backup, restore, clone (docs/quorum.md §8–§10)

const DOMAIN_FORMAT = 'tinyhsm-domain-v1';
const JOIN_FORMAT = 'tinyhsm-domain-join-v1';
const BACKUP_FORMAT = 'tinyhsm-backup-v1';

/** DOMAIN_CREATE's answer as a file: the domain id and each officer's sealed share (nothing in it opens without an officer key). */
interface DomainFile {
  format: typeof DOMAIN_FORMAT;
  domainId: string;
  deviceId: string;
  threshold: number;
  officers: { index: number; label: string; fingerprint: string; share: string }[];
}

/** A joining device's request: its id and identity key (read in a session it signed), and the shares officers seal to it. */
interface JoinFile {
  format: typeof JOIN_FORMAT;
  domainId: string;
  deviceId: string;
  identityKey: string;
  shares: { officer: number; label: string; sealed: string }[];
}

/** BACKUP_EXPORT blobs of one domain, in order. */
interface BackupFile {
  format: typeof BACKUP_FORMAT;
  domainId: string;
  deviceId: string;
  keyIds: number[];
  blobs: string[];
}

/** Hex from one of our own files: a usage error (not a crash) when a hand edit broke it. */
function hexField(h: string): Uint8Array {
  const v = typeof h === 'string' ? fromHex(h) : undefined;
  if (v === undefined) throw new UsageError(`not hex: ${String(h).slice(0, 40)}`);
  return v;
}

function readJson<T extends { format: string }>(path: string | undefined, format: string, flag: string): T {
  if (path === undefined) throw new UsageError(`give the ${format} file with ${flag}`);
  // `-` is standard input (README "--in -"); a file that cannot be read fails (exit 1), one that is not this JSON is a usage error
  const name = path === '-' ? 'standard input' : path;
  let v: T;
  try {
    v = JSON.parse(readInput(path, flag.split(' ')[0]).toString('utf8')) as T;
  } catch (e) {
    if (e instanceof Failure || e instanceof UsageError) throw e;
    throw new UsageError(`${name} is not a ${format} file: ${(e as Error).message}`);
  }
  if (!v || v.format !== format) throw new UsageError(`${name} is not a ${format} file`);
  return v;
}

function writeNew(path: string, v: object): void {
  try {
    writeFileSync(path, JSON.stringify(v, null, 1) + '\n', { flag: 'wx' });
  } catch (e) {
    throw new Failure('IO', `cannot write ${path} (an existing file is never overwritten): ${(e as Error).message}`);
  }
}

/** An officer key file opened with its passphrase, and which officer of `officers` it is (by fingerprint). */
async function officerOf(path: string, officers: { fingerprint: string }[]): Promise<{ index: number; privateKey: KeyObject; label: string }> {
  const pub = readOfficerPublic(path);
  const fp = toHex(officerFingerprint(pub.publicKey));
  const index = officers.findIndex((o) => o.fingerprint === fp);
  if (index < 0) throw new UsageError(`officer key ${path} (${pub.label}, fingerprint ${fp}) is not one of the domain's officers`);
  const { privateKey } = openOfficerKey(path, await officerPassphrase(`officer key ${path} (${pub.label})`));
  return { index, privateKey, label: pub.label };
}

/**
 * An officer re-seals its share to the joining device after checking the device's identity key against `identity`:
 * with a key file here (the share is in this process for a moment, then wiped), or with `device` = [DEV, key id] the
 * officer's key on a tinyhsm, which re-seals inside it (SHARE_RESEAL), so no host sees the share.
 */
async function reshareInto(join: JoinFile, domain: DomainFile, keyPath: string | undefined, identity: string, opts: Opts): Promise<string> {
  if (identity.toLowerCase() !== join.identityKey)
    throw new Failure(
      'VERIFICATION_FAILED',
      `the join request names identity key ${join.identityKey}, not ${identity}: do not seal your share to it (the host that made the request may not be the device you mean)`,
    );
  if (join.domainId !== domain.domainId) throw new UsageError(`the join request is for domain ${join.domainId}; the domain file is ${domain.domainId}`);
  let index: number;
  let label: string;
  let sealed: Uint8Array | undefined;
  if (keyPath === undefined) {
    // the officer's key on another tinyhsm (user PIN of that device)
    const keyId = needKeyId(opts.key);
    [index, label, sealed] = await withLogin({ ...opts, device: opts['officer-device'] }, 'user', 'SHARE_RESEAL', async (c) => {
      const k = await c.publicKey(keyId);
      const fp = toHex(officerFingerprint(k.publicKey));
      const i = domain.officers.findIndex((o) => o.fingerprint === fp);
      if (i < 0) throw new UsageError(`key ${keyId} on ${opts['officer-device']} (fingerprint ${fp}) is not one of the domain's officers`);
      const out = await c.shareReseal(keyId, hexField(domain.domainId), hexField(domain.officers[i].share), hexField(join.identityKey), { signal: interrupt });
      return [i, domain.officers[i].label, out] as const;
    });
  } else {
    const o = await officerOf(keyPath, domain.officers);
    [index, label] = [o.index, o.label];
    sealed = reshare(hexField(domain.officers[o.index].share), o.privateKey, hexField(domain.domainId), hexField(join.identityKey));
    if (sealed === undefined)
      throw new Failure('VERIFICATION_FAILED', `the share of officer ${o.index} (${o.label}) in the domain file does not open with ${keyPath}`);
  }
  join.shares = join.shares.filter((s) => s.officer !== index).concat([{ officer: index, label, sealed: toHex(sealed as Uint8Array) }]);
  return label;
}

async function joinRequestOf(c: HsmClient, domainId: string): Promise<JoinFile> {
  const info = await c.info();
  // the identity key this client pinned (the device signed the session with it), never INFO's unauthenticated copy
  await c.random(1);
  const pinned = c.pinnedIdentity;
  if (!pinned) throw new UsageError('the device has no pinned identity key (see --trust)');
  if (info.domainId !== undefined) throw new UsageError(`device ${toHex(info.deviceId)} is in domain ${toHex(info.domainId)} already; only a reset leaves it`);
  return { format: JOIN_FORMAT, domainId, deviceId: toHex(info.deviceId), identityKey: pinned.identityKey, shares: [] };
}

async function domainCommand(positionals: string[], opts: Opts): Promise<{ json: object; text: string }> {
  const sub = positionals[0];
  if (sub === 'create') {
    if (opts.out === undefined) throw new UsageError('usage: tinyhsm domain create --out FILE (the sealed shares, one per officer)');
    return withLogin(opts, 'so', 'DOMAIN_CREATE', async (c, info) => {
      const { threshold, officers } = officersOf(info, 'DOMAIN_CREATE');
      const dom = await c.domainCreate();
      const file: DomainFile = {
        format: DOMAIN_FORMAT,
        domainId: toHex(dom.domainId),
        deviceId: toHex(info.deviceId),
        threshold,
        officers: officers.map((o, i) => ({ index: i, label: o.label, fingerprint: toHex(o.fingerprint), share: toHex(dom.shares[i]) })),
      };
      writeNew(opts.out as string, file);
      return {
        json: file,
        text: [
          `domain ${file.domainId} created on device ${file.deviceId}; ${threshold} of ${officers.length} officers rebuild its wrap key`,
          `${opts.out} holds one share per officer, each sealed to that officer's key: keep copies; no share opens without its officer`,
        ].join('\n'),
      };
    });
  }
  if (sub === 'join-request') {
    const domain = readJson<DomainFile>(opts.domain, DOMAIN_FORMAT, '--domain FILE');
    if (opts.out === undefined) throw new UsageError('usage: tinyhsm domain join-request --domain FILE --out JOIN (on the device that joins)');
    return withClient(opts, async (c) => {
      const join = await joinRequestOf(c, domain.domainId);
      writeNew(opts.out as string, join);
      return {
        json: join,
        text: [
          `join request ${opts.out}: device ${join.deviceId} asks to join domain ${join.domainId}`,
          `its identity key ${join.identityKey}`,
          `next: ${domain.threshold} officers each check that key on the device itself (\`tinyhsm info\` there) and run`,
          `  tinyhsm domain reshare ${opts.out} --domain FILE --officer-key KEY --identity KEY_HEX`,
        ].join('\n'),
      };
    });
  }
  if (sub === 'reshare') {
    const path = positionals[1];
    if (path === '-') throw new UsageError('domain reshare adds your share to JOIN in place: give the file, not standard input');
    const join = readJson<JoinFile>(path, JOIN_FORMAT, 'the join request as the first argument');
    const domain = readJson<DomainFile>(opts.domain, DOMAIN_FORMAT, '--domain FILE');
    if ((opts['officer-key'] === undefined) === (opts['officer-device'] === undefined) || opts.identity === undefined)
      throw new UsageError(
        "usage: tinyhsm domain reshare JOIN --domain FILE (--officer-key KEY | --officer-device DEV --key ID) --identity KEY_HEX (the joining device's identity key, read on it)",
      );
    const label = await reshareInto(join, domain, opts['officer-key'], opts.identity, opts);
    writeFileSync(path as string, JSON.stringify(join, null, 1) + '\n');
    const more = domain.threshold - join.shares.length;
    return {
      json: { resealed: label, join },
      text: [
        `verified      identity key ${join.identityKey} is the one you gave; your share opened for domain ${join.domainId}`,
        `sealed        your share to device ${join.deviceId} (${join.shares.length} of ${domain.threshold}: ${join.shares.map((s) => s.label).join(', ')})`,
        more > 0
          ? `next          ${more} more officer(s) run \`tinyhsm domain reshare\``
          : `next          the operator runs \`tinyhsm approval request domain-join --join ${path} --out REQ\` on the device, and its officers sign`,
      ].join('\n'),
    };
  }
  throw new UsageError(
    'usage: tinyhsm domain (create --out FILE | join-request --domain FILE --out JOIN | reshare JOIN --domain FILE --officer-key KEY --identity KEY_HEX)',
  );
}

/** Key ids from --keys: "all" (every key allowing export-under-wrap) or a comma-separated list. */
async function exportableIds(c: HsmClient, keys: string | undefined): Promise<number[]> {
  if (keys === undefined) throw new UsageError('give --keys all or --keys ID,ID,…');
  const list = await c.listKeys();
  if (keys === 'all') return list.filter((k) => (k.capabilities & Capability.EXPORT_WRAPPED) !== 0).map((k) => k.keyId);
  return keys.split(',').map((s) => needKeyId(s.trim()));
}

function batches(ids: number[]): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < ids.length; i += MAX_BACKUP_KEYS) out.push(ids.slice(i, i + MAX_BACKUP_KEYS));
  return out;
}

/** BACKUP_EXPORT in batches of six, each approved by the --approve keys here. */
async function exportBatches(c: HsmClient, ids: number[], approve: string[]): Promise<string[]> {
  const blobs: string[] = [];
  for (const b of batches(ids)) blobs.push(toHex(await c.backupExport(b, await approveInProcess(c, Command.BACKUP_EXPORT, { keyIds: b }, approve))));
  return blobs;
}

async function importBlobs(c: HsmClient, blobs: string[], approve: string[]): Promise<number[]> {
  const ids: number[] = [];
  for (const h of blobs) {
    const blob = hexField(h);
    ids.push(...(await c.backupImport(blob, await approveInProcess(c, Command.BACKUP_IMPORT, { blob }, approve))));
  }
  return ids;
}

async function backupCommand(opts: Opts): Promise<{ json: object; text: string }> {
  const approve = opts.approve || [];
  if (opts.out === undefined || approve.length === 0)
    throw new UsageError('usage: tinyhsm backup --keys all|ID,… --approve KEY... --out FILE (M officers approve each batch of six keys)');
  return withLogin(opts, 'so', 'BACKUP_EXPORT', async (c, info) => {
    if (info.domainId === undefined) throw new UsageError(`device ${toHex(info.deviceId)} is in no domain: \`tinyhsm domain create\` first`);
    const keyIds = await exportableIds(c, opts.keys);
    if (keyIds.length === 0) throw new UsageError('no key here allows export-under-wrap: nothing to back up');
    const blobs = await exportBatches(c, keyIds, approve);
    const file: BackupFile = { format: BACKUP_FORMAT, domainId: toHex(info.domainId), deviceId: toHex(info.deviceId), keyIds, blobs };
    writeNew(opts.out as string, file);
    return {
      json: file,
      text: `${keyIds.length} key(s) (${keyIds.join(', ')}) backed up in ${blobs.length} blob(s) under domain ${file.domainId}: ${opts.out}`,
    };
  });
}

async function restoreCommand(opts: Opts): Promise<{ json: object; text: string }> {
  const file = readJson<BackupFile>(opts.in, BACKUP_FORMAT, '--in FILE');
  const approve = opts.approve || [];
  if (approve.length === 0) throw new UsageError('usage: tinyhsm restore --in FILE --approve KEY... (M officers approve each blob)');
  return withLogin(opts, 'so', 'BACKUP_IMPORT', async (c, info) => {
    if (info.domainId === undefined || toHex(info.domainId) !== file.domainId)
      throw new UsageError(
        `the backup is of domain ${file.domainId}; device ${toHex(info.deviceId)} is in ${info.domainId ? toHex(info.domainId) : 'no domain'}`,
      );
    const ids = await importBlobs(c, file.blobs, approve);
    return { json: { restored: ids, domainId: file.domainId }, text: `restored key(s) ${ids.join(', ')}, marked restored, with their policies` };
  });
}

/**
 * clone --from A --to B: B joins A's domain if it is in none (the --approve officers re-seal their shares to B's
 * identity, checked against --identity, and approve the join on B), then every key of A that allows export-under-wrap
 * and B lacks goes across in batches, each approved on A and on B. --so-pin is A's SO PIN, --to-so-pin B's.
 */
async function cloneCommand(opts: Opts): Promise<{ json: object; text: string }> {
  const approve = opts.approve || [];
  if (opts.from === undefined || opts.to === undefined || approve.length === 0)
    throw new UsageError('usage: tinyhsm clone --from DEV --to DEV --approve KEY... [--domain FILE --identity KEY_HEX] (B not yet in the domain needs both)');
  const steps: string[] = [];
  const toOpts: Opts = { ...opts, device: opts.to, 'so-pin': opts['to-so-pin'] ?? process.env.HSM_TO_SO_PIN ?? opts['so-pin'] };
  const fromInfo = await withClient({ ...opts, device: opts.from }, (c) => c.info());
  if (fromInfo.domainId === undefined)
    throw new UsageError(`device ${toHex(fromInfo.deviceId)} (--from) is in no domain: \`tinyhsm domain create\` there first`);
  const domainId = toHex(fromInfo.domainId);
  // 1. B joins the domain
  await withLogin(toOpts, 'so', 'DOMAIN_JOIN', async (c, info) => {
    if (info.domainId !== undefined) {
      if (toHex(info.domainId) !== domainId) throw new UsageError(`device ${toHex(info.deviceId)} (--to) is in another domain, ${toHex(info.domainId)}`);
      steps.push(`1. device ${toHex(info.deviceId)} is in domain ${domainId} already`);
      return;
    }
    const domain = readJson<DomainFile>(opts.domain, DOMAIN_FORMAT, '--domain FILE (the joining device needs the sealed shares)');
    if (domain.domainId !== domainId) throw new UsageError(`the domain file is of domain ${domain.domainId}; --from is in ${domainId}`);
    if (opts.identity === undefined) throw new UsageError(`give --identity KEY_HEX: the identity key of device ${toHex(info.deviceId)}, read on it`);
    const join = await joinRequestOf(c, domainId);
    const labels: string[] = [];
    for (const k of approve) labels.push(await reshareInto(join, domain, k, opts.identity, opts));
    const shares = join.shares.map((s) => hexField(s.sealed));
    const request = c.domainJoinRequest(hexField(domainId), shares);
    await c.domainJoin(hexField(domainId), shares, await approveInProcess(c, Command.DOMAIN_JOIN, request, approve));
    steps.push(
      `1. device ${join.deviceId} joined domain ${domainId}: ${labels.join(', ')} checked its identity ${join.identityKey} and sealed their shares to it`,
    );
  });
  // 2. what B lacks
  const have = await withLogin(toOpts, 'so', 'KEY_LIST', (c) => c.listKeys());
  const keyIds = await withLogin({ ...opts, device: opts.from }, 'so', 'KEY_LIST', async (c) => {
    const all = await exportableIds(c, 'all');
    const list = await c.listKeys();
    const same = (id: number) => have.some((h) => h.keyId === id && toHex(h.publicKey) === toHex(list.find((k) => k.keyId === id)!.publicKey));
    return all.filter((id) => !same(id));
  });
  steps.push(`2. ${keyIds.length} key(s) of ${toHex(fromInfo.deviceId)} allow export-under-wrap and are not on the target: ${keyIds.join(', ') || 'none'}`);
  // 3. across, batch by batch
  const blobs = keyIds.length ? await withLogin({ ...opts, device: opts.from }, 'so', 'BACKUP_EXPORT', (c) => exportBatches(c, keyIds, approve)) : [];
  const restored = blobs.length ? await withLogin(toOpts, 'so', 'BACKUP_IMPORT', (c) => importBlobs(c, blobs, approve)) : [];
  steps.push(`3. exported in ${blobs.length} blob(s) and restored: ${restored.join(', ') || 'nothing to do'}`);
  return { json: { domainId, from: toHex(fromInfo.deviceId), restored, steps }, text: steps.join('\n') };
}

/** One line typed on the terminal, with echo (a confirmation); Ctrl-C or Ctrl-D cancels, saying `nothing` happened. */
function askLine(prompt: string, nothing: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  return new Promise((resolve, reject) => {
    let answered = false;
    rl.question(prompt, (a) => {
      answered = true;
      rl.close();
      resolve(a.trim());
    });
    rl.once('SIGINT', () => rl.close());
    rl.once('close', () => {
      if (!answered) {
        process.stderr.write('\n');
        reject(new Cancelled(`cancelled; ${nothing}`));
      }
    });
  });
}

/** Start `tinyhsm sim --pty --json` as a child process and return the pty path it prints first. */
async function startPtySimulator(): Promise<{ path: string; stop: () => Promise<void> }> {
  const self = process.argv[1];
  const child = spawn(process.execPath, [self, 'sim', '--pty', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the simulator exited (${code}) before printing its pty`)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return { path: JSON.parse(first).pty, stop };
}

/** Verify with the real OpenSSL program when it is installed (Ed25519: pkeyutl -rawin; ECDSA: dgst on a DER signature). */
function opensslVerify(alg: number, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-demo-'));
  try {
    const file = (name: string, data: string | Uint8Array) => (writeFileSync(join(dir, name), data), join(dir, name));
    const pem = file('key.pem', publicKeyToPem(alg, publicKey));
    const msg = file('msg', message);
    const args =
      alg === Alg.ED25519
        ? ['pkeyutl', '-verify', '-pubin', '-inkey', pem, '-rawin', '-in', msg, '-sigfile', file('sig', signature)]
        : ['dgst', '-sha256', '-verify', pem, '-signature', file('sig', rawSignatureToDer(signature)), msg];
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.error) return undefined; // no openssl on this machine
    return r.status === 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The PINs the demo gives the throwaway simulator it starts (never a real device). */
const DEMO_PINS = { user: 'demo-user-1234', so: 'demo-so-5678' };

/** The status name a call was refused with (the demo shows refusals), or throws if it was not refused. */
async function refusal(p: Promise<unknown>, what: string): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof HsmError && e.fromDevice) return e.code;
    throw e;
  }
  throw new Error(`${what} was not refused`);
}

/**
 * The README's end-to-end demo: a simulated token on a real pty (unless --device names one), initialized with demo
 * PINs, key use refused before init and before login, keys made on it, signatures checked by node:crypto and by the
 * openssl program, and each key's attestation verified against the identity key the host pinned.
 */
async function demo(opts: Opts): Promise<{ json: object; text: string }> {
  const named = opts.device || process.env.HSM_DEVICE;
  const sim = named ? undefined : await startPtySimulator();
  const device = named || (sim as { path: string }).path;
  const lines: string[] = [sim ? `started a simulated token on ${device} (tinyhsm sim --pty)` : `device: ${device}`];
  const results: object[] = [];
  const refused: { [when: string]: string } = {};
  try {
    // The simulator this demo started is pinned in memory only (it is thrown away at the end, so a file entry
    // would be litter); the handshake is still verified. A device named with --device goes through the file.
    const client = await HsmClient.open(
      device,
      sim ? { knownDevices: null, onKeepalive: keepaliveReporter() } : { trust: opts.trust === true, onKeepalive: keepaliveReporter() },
    );
    try {
      const info = await client.info();
      lines.push(`device id ${toHex(info.deviceId)}; algorithms that passed self-test: ${info.algorithms.map(algName).join(', ')}`);
      const message = new TextEncoder().encode('tinyhsm demo: signed inside the token');
      let userPin: string;
      if (!info.initialized) {
        // a real device is initialized with the PINs its owner gives, never with the demo's
        const given = { user: fromFlagOrEnv(opts.pin, 'HSM_PIN'), so: fromFlagOrEnv(opts['so-pin'], 'HSM_SO_PIN') };
        if (!sim && (given.user === undefined || given.so === undefined))
          throw new UsageError(`${device} is factory-new: give the PINs to set with --pin USER --so-pin SO, or run the demo on its own simulator`);
        refused.beforeInit = await refusal(client.sign(1, { message }), 'SIGN before INIT');
        lines.push(`sign before init:  refused, ${refused.beforeInit}`);
        userPin = sim ? DEMO_PINS.user : (given.user as string);
        await client.init({ userPin, soPin: sim ? DEMO_PINS.so : (given.so as string), label: 'demo' });
        lines.push(`init:              user PIN and SO PIN set${sim ? ` (demo PINs "${DEMO_PINS.user}" / "${DEMO_PINS.so}")` : ''}`);
      } else {
        const { pin } = await credentials('user', opts, 'the demo');
        userPin = pin;
      }
      refused.beforeLogin = await refusal(client.sign(1, { message }), 'SIGN before LOGIN');
      lines.push(`sign before login: refused, ${refused.beforeLogin}`);
      await client.login('user', userPin);
      lines.push('login:             user role');
      for (const alg of [Alg.ED25519, Alg.ECDSA_P256]) {
        const { keyId, publicKey } = await client.generateKey(algName(alg), 'demo');
        const signature = await client.sign(keyId, { message });
        const spki = createPublicKey({ key: Buffer.from(publicKeyToSpkiDer(alg, publicKey)), format: 'der', type: 'spki' });
        const byNode =
          alg === Alg.ED25519 ? nodeVerify(null, message, spki, signature) : nodeVerify('sha256', message, { key: spki, dsaEncoding: 'ieee-p1363' }, signature);
        const byOpenssl = opensslVerify(alg, publicKey, message, signature);
        const said = (v: boolean | undefined) => (v === undefined ? 'not installed' : v ? 'verified' : 'REJECTED');
        lines.push(
          `${algName(alg).padEnd(11)} key ${keyId}: signature ${toHex(signature).slice(0, 24)}…  node:crypto ${said(byNode)}, openssl ${said(byOpenssl)}`,
        );
        if (!byNode || byOpenssl === false) throw new Error(`the ${algName(alg)} signature did not verify`);
        // the statement is verified by keyAttest itself (identity pinned at the handshake, fresh nonce, key id)
        const att = await client.keyAttest(keyId, { publicKey });
        lines.push(
          `${''.padEnd(11)} key ${keyId}: attestation verified against identity ${client.pinnedIdentity!.identityKey.slice(0, 16)}…: ${originName(att.origin)}, ${capabilityNames(att.capabilities).join(',')}, ${att.local ? 'local' : 'not local'}`,
        );
        results.push({
          alg: algName(alg),
          id: keyId,
          publicKey: toHex(publicKey),
          signature: toHex(signature),
          verifiedByNode: byNode,
          verifiedByOpenssl: byOpenssl,
          attestation: attestationJson(att, client.pinnedIdentity!.identityKey),
        });
        await client.deleteKey(keyId);
      }
      await client.logout();
    } finally {
      await client.close();
    }
  } finally {
    if (sim) await sim.stop();
  }
  lines.push('private keys never left the token; the demo keys were deleted again');
  return { json: { device, refused, results }, text: lines.join('\n') };
}

/** Print one error (stderr: a JSON object with --json, else `tinyhsm CMD: message`) and return its exit code. */
function reportError(cmd: string | undefined, e: unknown, json: boolean): number {
  const r = explain(e);
  process.stderr.write(json ? JSON.stringify(r.json) + '\n' : `tinyhsm${cmd !== undefined ? ` ${cmd}` : ''}: ${r.text}\n`);
  return r.code;
}

function explain(e: unknown): { json: object; text: string; code: number } {
  if (e instanceof UsageError) return { json: { error: { status: 'USAGE', message: e.message } }, text: e.message, code: 2 };
  if (e instanceof Cancelled) return { json: { error: { status: 'CANCELLED', message: e.message } }, text: e.message, code: 130 };
  if (e instanceof Failure) return { json: { error: { status: e.status, message: e.message } }, text: e.message, code: 1 };
  if (e instanceof HsmError) {
    const name = e.statusName || String(e.status);
    const hint = e.hint || (STATUS_HINTS as { [k: string]: string })[name] || undefined;
    // Ctrl-C while the device waited: the request was cancelled on the device (CANCEL), exit as interrupted
    // an audit check that failed still says what it checked (audit pull / verify attach it)
    const result = (e as { json?: object }).json;
    return {
      json: { error: { status: name, message: e.message, hint }, ...(result ? { result } : {}) },
      text: e.message,
      code: e.code === 'ABORTED' ? 130 : 1,
    };
  }
  const msg = e instanceof Error ? e.message : String(e);
  return { json: { error: { status: 'ERROR', message: msg } }, text: msg, code: 1 };
}

// ---------------------------------------------------------------- the audit log (docs/audit.md)

/** Log in to read the log: as auditor when an auditor PIN is given, else as `any` does (user or SO). */
async function withAuditReader<T>(opts: Opts, what: string, fn: (c: HsmClient) => Promise<T>): Promise<T> {
  return withClient(opts, async (c) => {
    const info = await c.info();
    requireInitialized(info, what);
    const auditorPin = pinFlag('auditor', opts);
    if (auditorPin !== undefined) await c.login('auditor', auditorPin);
    else if (opts.ack) await c.login('auditor', (await credentials('auditor', opts, what)).pin);
    else {
      const { role, pin } = await credentials('any', opts, what);
      await c.login(role, pin);
    }
    return fn(c);
  });
}

/** One entry as a line of text. */
function entryText(e: AuditEntry): string {
  const what = e.command ? `${e.command}${e.keyId ? ` key ${e.keyId}` : ''}` : '';
  const who = e.session ? ` session ${e.session}${e.role !== 'none' ? ` (${e.role})` : ''}` : '';
  return `#${e.index} +${e.time}ms ${e.event}${what ? ' ' + what : ''} ${e.status}${e.reason ? ` (reason ${e.reason})` : ''}${who}`;
}

function auditFailure(problems: AuditProblem[]): HsmError {
  return new HsmError('AUDIT_INVALID', problems.map((p) => p.message).join('; '));
}

/** A pulled file's lines (empty when it does not exist yet); a line that is not JSON is AUDIT_INVALID. */
function readLog(path: string): AuditLine[] {
  try {
    return readAuditFile(path);
  } catch (e) {
    throw new HsmError('AUDIT_INVALID', (e as Error).message);
  }
}

/**
 * The device's log against a file that ends at `tip` (docs/audit.md §5): a checkpoint verified against the pinned
 * identity, the entries after the tip, and what makes the device's log older than the file (a rollback): a `next`
 * not past the tip, or another entry at the tip's index. The pulled entries chain from the tip (or among themselves
 * after a gap, which is reported), and the last one must be the head the device signed.
 */
async function againstDevice(c: HsmClient, header: AuditHeader | undefined, tip: ChainTip | undefined) {
  const cp = await c.auditCheckpoint();
  const who = { deviceId: toHex(cp.deviceId), identityKey: toHex(cp.identityKey) };
  const problems: AuditProblem[] = [];
  let fresh: AuditEntry[] = [];
  let gap: AuditGap | undefined;
  let oldest = cp.oldest;
  if (header && (header.deviceId !== who.deviceId || header.identityKey !== who.identityKey))
    problems.push({ kind: 'checkpoint', message: `the file is the log of device ${header.deviceId}, not of this device ${who.deviceId}` });
  else if (tip && cp.next <= tip.index)
    problems.push({
      kind: 'rollback',
      index: cp.next,
      message: `the device's log ends at entry ${cp.next - 1}, before entry ${tip.index} of the file: its flash was rolled back or replaced`,
    });
  else {
    const got = await c.auditReadAll(tip ? tip.index : 0);
    oldest = got.oldest;
    const held = tip && got.entries.length > 0 && got.entries[0].index === tip.index ? got.entries[0] : undefined;
    if (held && tip && held.digest !== tip.digest)
      problems.push({
        kind: 'rollback',
        index: tip.index,
        message: `the device holds another entry ${tip.index} than the file: its log was rolled back or replaced`,
      });
    fresh = tip ? got.entries.filter((e) => e.index > tip.index) : got.entries;
    const from = tip ? tip.index + 1 : 0;
    if (fresh.length > 0 && fresh[0].index > from) gap = { type: 'gap', from, to: fresh[0].index - 1 };
    const chain = checkChain(fresh, gap ? undefined : tip);
    problems.push(...chain.problems);
    const end = chain.tip ?? tip;
    if (end && end.index === cp.next - 1 && end.digest !== toHex(cp.head))
      problems.push({ kind: 'edit', index: end.index, message: `entry ${end.index} as read is not the entry the device signed in its checkpoint` });
  }
  return { cp, who, fresh, gap, oldest, problems };
}

/**
 * `audit pull`: the entries FILE lacks, checked link by link from FILE's last entry (which the device must still hold
 * unchanged, or be past) to a checkpoint signed just now, then appended with that checkpoint. A rollback or a broken
 * link appends nothing; a gap (entries overwritten before they were pulled) is written into FILE and exits 1.
 */
async function auditPull(opts: Opts): Promise<{ json: object; text: string }> {
  const out = opts.out;
  if (!out) throw new UsageError('audit pull needs --out FILE: the JSON lines file the entries are appended to');
  const lines = readLog(out);
  const file = verifyAuditLines(lines);
  if (lines.length > 0) {
    const bad = file.problems.filter((p) => p.kind !== 'gap');
    if (bad.length > 0) throw auditFailure(bad);
  }
  return withAuditReader(opts, 'audit pull', async (c) => {
    const { cp, who, fresh, gap, problems } = await againstDevice(c, file.header, file.tip);
    if (problems.length > 0) throw auditFailure(problems);
    const add: AuditLine[] = [];
    if (lines.length === 0) add.push({ type: 'device', ...who });
    if (gap) add.push(gap);
    add.push(...fresh);
    add.push({
      type: 'checkpoint',
      next: cp.next,
      head: toHex(cp.head),
      nonce: toHex(cp.nonce),
      signature: toHex(cp.signature),
      time: new Date().toISOString(),
    });
    appendFileSync(out, add.map((l) => JSON.stringify(l)).join('\n') + '\n', { mode: 0o600 });
    const last = fresh.length > 0 ? fresh[fresh.length - 1] : undefined;
    const acked = opts.ack && last ? await c.auditAck(last.index) : undefined;
    const from = fresh.length > 0 ? fresh[0].index : cp.next;
    const json = {
      file: out,
      pulled: fresh.length,
      from,
      to: last ? last.index : undefined,
      next: cp.next,
      gap: gap ? { from: gap.from, to: gap.to } : undefined,
      acked,
    };
    const text =
      (last
        ? `pulled entries ${from}..${last.index} into ${out}, checked against the signed checkpoint`
        : `${out} is up to date (${cp.next} entries on the device)`) +
      (gap ? `\nGAP: entries ${gap.from}..${gap.to} were overwritten on the device before they were pulled` : '') +
      (acked !== undefined ? `\nacknowledged entries up to ${acked - 1}` : '');
    if (gap) throw Object.assign(new HsmError('AUDIT_INVALID', text), { json });
    return { json, text };
  });
}

/** `audit verify`: FILE on its own, then (unless --offline) against the device's log and a fresh checkpoint. */
async function auditVerify(opts: Opts): Promise<{ json: object; text: string }> {
  const path = opts.in;
  if (!path) throw new UsageError('audit verify needs --in FILE (a file written by `tinyhsm audit pull`; - reads standard input)');
  let lines: AuditLine[];
  if (path === '-') {
    const text = readInput(path, '--in').toString('utf8');
    try {
      lines = parseAuditLines(text, 'standard input');
    } catch (e) {
      throw new HsmError('AUDIT_INVALID', (e as Error).message);
    }
  } else {
    readInput(path, '--in'); // a file that is not there, or not readable, fails as I/O (exit 1)
    lines = readLog(path);
  }
  if (lines.length === 0) throw new UsageError(`${path === '-' ? 'standard input' : path} is empty: nothing to verify`);
  const file = verifyAuditLines(lines);
  const problems = [...file.problems];
  let device: { next: number; oldest: number; notInFile: number; acked: number; forced: boolean; locked: boolean } | undefined;
  if (!opts.offline && file.header) {
    const header = file.header;
    await withAuditReader(opts, 'audit verify', async (c) => {
      const d = await againstDevice(c, header, file.tip);
      problems.push(...d.problems);
      if (d.gap)
        problems.push({ kind: 'gap', index: d.gap.from, message: `entries ${d.gap.from}..${d.gap.to} were overwritten on the device before they were pulled` });
      device = { next: d.cp.next, oldest: d.oldest, notInFile: d.fresh.length, acked: d.cp.acked, forced: d.cp.forced, locked: d.cp.locked };
    });
  }
  const json = { file: path, ok: problems.length === 0, entries: file.entries, tip: file.tip, device, problems };
  if (problems.length > 0) throw Object.assign(auditFailure(problems), { json });
  const text = `${path}: ${file.entries} entries, chain and checkpoints verify${device ? `; the device's log continues it (${device.notInFile} entries not pulled yet)` : ''}`;
  return { json, text };
}

async function auditCommand(positionals: string[], opts: Opts): Promise<{ json: object; text: string }> {
  const sub = positionals[0];
  if (sub === 'pull') return auditPull(opts);
  if (sub === 'verify') return auditVerify(opts);
  if (sub === 'tail') {
    const count = opts.count === undefined ? 10 : Number(opts.count);
    if (!Number.isInteger(count) || count < 1 || count > 1000) throw new UsageError('--count must be a whole number from 1 to 1000');
    return withAuditReader(opts, 'audit tail', async (c) => {
      const cp = await c.auditCheckpoint();
      const start = cp.next > count ? cp.next - count : 0;
      const got = await c.auditReadAll(start);
      const chain = checkChain(got.entries, undefined);
      if (chain.problems.length > 0) throw auditFailure(chain.problems);
      const print = (e: AuditEntry) => process.stdout.write((opts.json ? JSON.stringify(e) : entryText(e)) + '\n');
      if (!opts.follow) return { json: { entries: got.entries, next: got.next }, text: got.entries.map(entryText).join('\n') || 'the log is empty' };
      got.entries.forEach(print);
      let tip = chain.tip;
      // --follow: poll once a second, each new entry checked against the one before, until Ctrl-C
      while (!(interrupt && interrupt.aborted)) {
        await new Promise((r) => setTimeout(r, 1000));
        const more = await c.auditReadAll(tip ? tip.index + 1 : 0);
        const next = checkChain(more.entries, tip);
        if (next.problems.length > 0) throw auditFailure(next.problems);
        more.entries.forEach(print);
        tip = next.tip ?? tip;
      }
      return { json: { next: tip ? tip.index + 1 : 0 }, text: '' };
    });
  }
  if (sub === 'settings') {
    const forced = opts.forced === undefined ? undefined : opts.forced === 'on' ? true : opts.forced === 'off' ? false : undefined;
    if (opts.forced !== undefined && forced === undefined) throw new UsageError('--forced takes on or off');
    const auditorPin = opts['new-auditor-pin'];
    return withLogin(opts, 'so', 'audit settings', async (c) => {
      if (forced !== undefined || opts.lock || auditorPin !== undefined) await c.auditSet({ forced, lock: opts.lock ? true : undefined, auditorPin });
      const cp = await c.auditCheckpoint();
      const json = { forced: cp.forced, locked: cp.locked, auditor: cp.auditor, capacity: cp.capacity, next: cp.next, acked: cp.acked, oldest: cp.oldest };
      const text = [
        `forced audit  ${cp.forced ? 'on' : 'off'}${cp.locked ? ', locked until reset' : ''}`,
        `auditor PIN   ${cp.auditor ? 'set' : 'not set'}`,
        `log           ${cp.next} entries written, ${cp.next - cp.oldest} held (capacity ${cp.capacity}), acknowledged up to ${cp.acked}`,
      ].join('\n');
      return { json, text };
    });
  }
  throw new UsageError('audit takes pull, verify, tail or settings');
}

/**
 * A value that begins with "-" and a digit (`-V -5m:+1h`, as ssh-keygen takes it) joined to its option
 * (`--validity=-5m:+1h`): parseArgs would read it as a cluster of short flags. Only after an option that takes a value,
 * and never after `--`.
 */
export function attachDashValues(args: string[]): string[] {
  const out: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, o] of Object.entries(OPTIONS) as [string, { type: string; short?: string }][]) if (o.short) byShort.set(o.short, name);
  for (let i = 0; i < args.length; i++) {
    const t = args[i];
    if (t === '--') {
      out.push(...args.slice(i));
      break;
    }
    const name = t.startsWith('--') ? t.slice(2) : /^-[A-Za-z]$/.test(t) ? byShort.get(t[1]) : undefined;
    const o = name !== undefined ? (OPTIONS as Record<string, { type: string }>)[name] : undefined;
    if (o !== undefined && o.type === 'string' && i + 1 < args.length && /^-\d/.test(args[i + 1])) {
      out.push(`--${name}=${args[++i]}`);
      continue;
    }
    out.push(t);
  }
  return out;
}

/** Entry point: returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let cmd: string | undefined = argv[0];
  if (cmd === 'sim') return (await runSimCommand(argv.slice(1))) ?? 0;
  if (cmd === 'connector') return await runConnectorCommand(argv.slice(1));
  // with --json every failure is one JSON object on stderr, a command line that does not parse included
  const jsonErrors = argv.includes('--json');
  // flags may come before the command (`tinyhsm --device sim list`): then the command is the first positional
  const flagsFirst = cmd !== undefined && cmd.startsWith('-');
  let parsed;
  try {
    parsed = parseArgs({ args: attachDashValues(flagsFirst ? argv : argv.slice(1)), options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    // a mistyped command is named as such, not as a flag it does not know
    if (cmd !== undefined && !flagsFirst && cmd !== 'help' && cmd !== 'version' && !commandNames().includes(cmd))
      return reportError(cmd, unknownCommand(cmd), jsonErrors);
    const help = flagsFirst ? 'tinyhsm --help' : `tinyhsm ${cmd} --help`;
    return reportError(flagsFirst ? undefined : cmd, new UsageError(argsErrorText(e, Object.keys(OPTIONS), help)), jsonErrors);
  }
  if (flagsFirst) cmd = parsed.positionals.shift();
  const opts = parsed.values as Opts;
  if (cmd === 'version' || opts.version) {
    const version = packageVersion();
    process.stdout.write((opts.json ? JSON.stringify({ version, protocol: PROTOCOL_VERSION }) : `tinyhsm ${version} (protocol ${PROTOCOL_VERSION})`) + '\n');
    return 0;
  }
  // `tinyhsm CMD --help` and `tinyhsm help CMD`: that command's forms; otherwise the whole usage
  const about = cmd === 'help' ? parsed.positionals[0] : cmd;
  if (cmd === undefined || cmd === 'help' || opts.help) {
    if (about !== undefined) {
      const one = commandHelp(about);
      if (one === undefined) return reportError(undefined, unknownCommand(about), jsonErrors);
      process.stdout.write(one + '\n');
      return 0;
    }
    // no command at all: the whole usage on a terminal, one JSON error for a program
    if (cmd === undefined && !opts.help && jsonErrors)
      return reportError(undefined, new UsageError('no command given; `tinyhsm --help` lists the commands'), true);
    process.stdout.write(USAGE + '\n');
    return cmd === undefined && !opts.help ? 2 : 0;
  }
  const command: string = cmd;
  // one report per run: the answer, or one error (a late Ctrl-C or a stray exception must not add a second one)
  let reported = false;
  const fail = (e: unknown): number => {
    if (reported) return explain(e).code;
    reported = true;
    return reportError(command, e, opts.json === true);
  };
  // Ctrl-C while the device waits for its button: cancel the request (CANCEL frame) and end cleanly
  const ac = new AbortController();
  const leave = () => {
    fail(new Cancelled('interrupted (Ctrl-C)'));
    process.exit(130);
  };
  const onInterrupt = () => {
    ac.abort(new Error('interrupted (Ctrl-C)'));
    // a request that is not waiting for the button (or a device that does not answer the CANCEL) must not keep the
    // person waiting: leave soon, at once on a second Ctrl-C (the client's exit hook still closes the session)
    setTimeout(leave, 3000).unref();
    process.once('SIGINT', leave);
  };
  // an exception outside the command's promise (a link's stray error event): still one error, exit 1, no stack trace
  const onStray = (e: unknown) => {
    fail(e instanceof Error ? e : new Error(String(e)));
    process.exit(1);
  };
  interrupt = ac.signal;
  process.once('SIGINT', onInterrupt);
  process.on('uncaughtException', onStray);
  process.on('unhandledRejection', onStray);
  try {
    const out = dataOut(command, parsed.positionals, opts);
    if (out) checkOutput(out.path);
    const { json, text, bytes } = await run(command, parsed.positionals, opts);
    // binary output (sign --format raw) goes out as it is, without a newline
    const answer = opts.json ? JSON.stringify(json) + '\n' : bytes !== undefined ? bytes : text + '\n';
    if (out) writeOutput(out.path, answer, out.secret);
    reported = true;
    if (!out) process.stdout.write(answer);
    else if (opts.json) process.stdout.write(JSON.stringify({ out: out.path }) + '\n');
    return 0;
  } catch (e) {
    return fail(e);
  } finally {
    process.removeListener('uncaughtException', onStray);
    process.removeListener('unhandledRejection', onStray);
    process.removeListener('SIGINT', onInterrupt);
    interrupt = undefined;
  }
}

// Run when this file is the program itself (`node dist/cli.js …`); bin/tinyhsm.js imports it and calls main.
if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
