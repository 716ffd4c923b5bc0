// Boots a real Linux kernel with IPVS as an ordinary process (user-mode Linux, Debian package
// `user-mode-linux`), runs one command inside it as root and powers it off. The kernel test harness,
// `npm run bench` and the `kube-ipvs sandbox` demo all go through runInGuest().
//
// How it works (measured recipe: shared notes real-kernel.md):
// - `linux.uml ... rootfstype=hostfs rootflags=/ ro init=<work>/init.sh KIPVS_WORK=<work>`: the guest's root is
//   the host's "/" read-only, so node, ip, ipvsadm, ipset and iptables are the host's own binaries;
// - <work> is a host scratch folder the guest mounts read-write at /run/kipvs (GUEST_WORK_DIR). We write the job
//   there (job.env for the init, job.sh for the command); the guest writes back exit-code, boot-error, and
//   whatever the command puts in /run/kipvs/out (GUEST_OUT_DIR = host <work>/out);
// - the init script (src/sandbox/guest-init.sh, copied into <work> so its exec bit never depends on the checkout)
//   mounts /proc, /sys, tmpfs on /run and /tmp, re-mounts host folders under /tmp or /run that the job needs
//   (the checkout may itself live under /tmp in CI), loads the modules, brings lo up, runs the job, powers off.
// The console (kernel messages + the job's stdout/stderr) streams to onConsoleLine and to <work>/console.log.

import { spawn } from 'node:child_process';
import { accessSync, constants as fsc, copyFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync,
  readFileSync, rmSync, statfsSync, statSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the host work folder appears inside the guest. */
export const GUEST_WORK_DIR = '/run/kipvs';
/** Where the job should write its results inside the guest (host side: GuestResult.outDir). */
export const GUEST_OUT_DIR = `${GUEST_WORK_DIR}/out`;

/** Kernel modules kube-ipvs needs; the guest refuses to run the job when one of them cannot be loaded. */
export const REQUIRED_MODULES: readonly string[] = [
  'ipv6',
  // IPVS and every scheduler kube-proxy accepts (twos is optional: Debian's 6.1 UML kernel lacks it)
  'ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_lc', 'ip_vs_wlc', 'ip_vs_lblc', 'ip_vs_lblcr', 'ip_vs_dh', 'ip_vs_sh',
  'ip_vs_sed', 'ip_vs_nq', 'ip_vs_mh', 'ip_vs_fo', 'ip_vs_ovf',
  'nf_conntrack', 'nf_conntrack_netlink', 'nf_nat',
  'dummy', 'veth', 'bridge', 'br_netfilter',
  'ip_set', 'ip_set_hash_ip', 'ip_set_hash_ipport', 'ip_set_hash_ipportip', 'ip_set_hash_ipportnet', 'ip_set_hash_net',
  'ip_set_hash_netport', 'ip_set_hash_netiface', 'ip_set_bitmap_ip', 'ip_set_bitmap_port', 'ip_set_list_set',
  'x_tables', 'xt_set', 'xt_ipvs', 'xt_comment', 'xt_mark', 'xt_addrtype', 'xt_conntrack', 'xt_state', 'xt_physdev',
  'xt_MASQUERADE', 'xt_nat', 'xt_tcpudp', 'xt_multiport', 'xt_sctp', 'xt_statistic',
  'ip_tables', 'iptable_nat', 'iptable_filter', 'iptable_mangle', 'iptable_raw', 'ipt_REJECT',
  'ip6_tables', 'ip6table_nat', 'ip6table_filter', 'ip6table_mangle', 'ip6table_raw', 'ip6t_REJECT',
  'sctp',
];

/**
 * Loaded when present. Debian's UML 6.1 config has nf_tables but not its ip/ip6/inet families
 * (CONFIG_NF_TABLES_IPV4/IPV6/INET unset), so iptables-nft cannot create tables in this guest whatever we load.
 */
export const OPTIONAL_MODULES: readonly string[] = [
  'ip_vs_twos', 'nf_conntrack_sip', 'ip_vs_pe_sip',
  'nf_tables', 'nft_compat', 'nft_ct', 'nft_masq', 'nft_redir', 'nft_reject', 'nft_hash', 'nft_limit', 'nft_numgen',
  'nft_chain_nat', 'nft_nat',
];

export interface GuestOptions {
  /** argv of the command run inside the guest as root (argv[0] looked up in PATH). */
  command: readonly string[];
  /** Working directory of the command (default: process.cwd()). */
  cwd?: string;
  /** Extra environment for the command (PATH, HOME=/tmp/home, KIPVS_OUT are always set). */
  env?: Readonly<Record<string, string>>;
  /** Guest memory, kernel syntax (default 1536M). */
  memory?: string;
  /** Kill the guest after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Host scratch folder (created; default: a fresh folder under os.tmpdir()). Kept after the run. */
  workDir?: string;
  /** Host folders the command needs besides "/" (the guest hides /tmp and /run): cwd and node's folder are added. */
  expose?: readonly string[];
  modules?: readonly string[];
  optionalModules?: readonly string[];
  /** Each console line (kernel messages and the command's stdout/stderr), as it arrives. */
  onConsoleLine?: (line: string) => void;
  /** Path of linux.uml (default: $KUBE_IPVS_LINUX_UML, then PATH, then /usr/bin/linux.uml). */
  linuxPath?: string;
  /** Folder holding <release>/modules.dep (default /usr/lib/uml/modules). */
  modulesDir?: string;
  /** Passed to a still-running guest to stop it early (it is then killed, and runInGuest rejects). */
  signal?: AbortSignal;
}

export interface GuestResult {
  exitCode: number;
  /** Host folder the job wrote to as GUEST_OUT_DIR. */
  outDir: string;
  workDir: string;
  consoleLog: string;
  /** From spawning linux.uml to the guest being ready to run the job. */
  bootMs: number;
  /** From spawning linux.uml to the process ending. */
  totalMs: number;
  /** Optional modules that could not be loaded. */
  missingOptionalModules: string[];
}

/** The guest never ran the job to completion: linux.uml missing, a required module missing, timeout, panic... */
export class GuestBootError extends Error {
  override readonly name = 'GuestBootError';
  constructor(
    readonly reason: string,
    /** Last lines of the console, to see what the kernel said. */
    readonly consoleTail: string,
    readonly workDir?: string,
  ) {
    super(consoleTail ? `${reason}\n--- guest console (tail) ---\n${consoleTail}` : reason);
  }
}

const CONSOLE_TAIL_LINES = 40;

/** The checkout (or installed package) root: the folder with package.json above this module. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src', 'sandbox'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('kube-ipvs package root not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export function findLinuxUml(explicit?: string): string | undefined {
  const candidates = [explicit, process.env.KUBE_IPVS_LINUX_UML];
  for (const d of (process.env.PATH ?? '').split(delimiter)) if (d) candidates.push(join(d, 'linux.uml'));
  candidates.push('/usr/bin/linux.uml');
  for (const c of candidates) {
    if (!c) continue;
    try {
      accessSync(c, fsc.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** Single-quoted for sh: the only character that needs care inside '...' is the quote itself. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function checkBootPath(what: string, p: string): void {
  // These travel on the kernel command line or as space-separated lists in job.env.
  if (!isAbsolute(p) || /[\s'"\\]/.test(p)) {
    throw new GuestBootError(`${what} must be an absolute path without spaces or quotes: ${JSON.stringify(p)}`, '');
  }
}

function parseMemory(mem: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(mem);
  if (!m) throw new GuestBootError(`bad guest memory size ${mem} (use e.g. 1536M)`, '');
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * unit;
}

function freeBytes(dir: string): number {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
}

/** True when the file system holding `dir` is mounted noexec (from /proc/self/mounts; false when unknown). */
function mountedNoexec(dir: string): boolean {
  let best = '';
  let noexec = false;
  for (const line of (readIfExists('/proc/self/mounts') ?? '').split('\n')) {
    const [, mountPoint, , options] = line.split(' ');
    if (!mountPoint || !options) continue;
    const mp = mountPoint.replace(/\\040/g, ' ');
    const covers = mp === '/' || dir === mp || dir.startsWith(mp + '/');
    if (covers && mp.length >= best.length) {
      best = mp;
      noexec = options.split(',').includes('noexec');
    }
  }
  return noexec;
}

/**
 * UML backs guest memory with an unlinked file in $TMPDIR, else /dev/shm, and maps it executable. A default
 * Docker container's /dev/shm is both small (64 MB: the guest would boot, then die with SIGBUS when it touches
 * more memory) and noexec (UML exits: "must be not mounted noexec"), so pick a folder that has room (the file
 * is sparse: only touched pages cost anything) and allows exec.
 */
function memoryFileDir(memBytes: number, workDir: string): string | undefined {
  if (process.env.TMPDIR) return undefined; // the user chose
  // UML adds about 600 MB for its own address-space gap (seen in its boot messages).
  const need = memBytes + 700 * 1024 ** 2;
  const usable = (d: string) => freeBytes(d) >= need && !mountedNoexec(d);
  if (usable('/dev/shm')) return undefined;
  if (usable(tmpdir())) return tmpdir();
  return workDir;
}

/**
 * Names of the modules available under modulesDir (all kernel releases found there; builtins included, since
 * modprobe accepts them), or undefined when there is no modules.dep at all.
 */
export function availableModules(modulesDir: string): Set<string> | undefined {
  let releases: string[];
  try {
    releases = readdirSync(modulesDir).filter((rel) => existsSync(join(modulesDir, rel, 'modules.dep')));
  } catch {
    return undefined;
  }
  if (releases.length === 0) return undefined;
  const names = new Set<string>();
  for (const rel of releases) {
    for (const file of ['modules.dep', 'modules.builtin']) {
      for (const line of (readIfExists(join(modulesDir, rel, file)) ?? '').split('\n')) {
        const path = line.split(':')[0]!.trim();
        if (!path) continue;
        // kernel/net/netfilter/ipvs/ip_vs_rr.ko(.xz) -> ip_vs_rr; modprobe treats - and _ alike.
        names.add(path.slice(path.lastIndexOf('/') + 1).replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_'));
      }
    }
  }
  return names;
}

/** Host folders the guest must re-mount because its tmpfs on /tmp and /run hides them. */
function hiddenFolders(paths: readonly string[]): string[] {
  const out = new Set<string>();
  for (const p of paths) {
    const abs = resolve(p);
    if (abs.startsWith('/tmp/') || abs.startsWith('/run/')) out.add(abs);
  }
  // A folder inside another one is covered by the outer mount.
  return [...out].filter((p) => ![...out].some((q) => q !== p && p.startsWith(q + '/'))).sort();
}

function writeJob(workDir: string, opts: GuestOptions, cwd: string, expose: string[], modulesDir: string): void {
  const env = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/tmp/home',
    KIPVS_OUT: GUEST_OUT_DIR,
    // The console is a terminal: keep escape codes out of logs unless the caller wants them.
    NO_COLOR: '1',
    ...opts.env,
  };
  // Node's folder first, so that `node` in the job is the host's current node.
  env.PATH = `${dirname(process.execPath)}:${env.PATH}`;
  const jobEnv = [
    `KIPVS_MODULES_DIR=${shellQuote(modulesDir)}`,
    `KIPVS_MODULES=${shellQuote((opts.modules ?? REQUIRED_MODULES).join(' '))}`,
    `KIPVS_OPTIONAL_MODULES=${shellQuote((opts.optionalModules ?? OPTIONAL_MODULES).join(' '))}`,
    `KIPVS_EXPOSE=${shellQuote(expose.join(' '))}`,
    '',
  ].join('\n');
  const jobSh = [
    '# written by src/sandbox/uml.ts; sourced in a subshell by the guest init',
    ...Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`),
    'mkdir -p "$HOME"',
    `cd ${shellQuote(cwd)} || exit 126`,
    `exec ${opts.command.map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
  writeFileSync(join(workDir, 'job.env'), jobEnv);
  writeFileSync(join(workDir, 'job.sh'), jobSh);
}

function readIfExists(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** Boots a guest, runs opts.command in it, and resolves with its exit code; rejects with GuestBootError. */
export async function runInGuest(opts: GuestOptions): Promise<GuestResult> {
  if (opts.command.length === 0) throw new GuestBootError('runInGuest: empty command', '');
  const linux = findLinuxUml(opts.linuxPath);
  if (!linux) {
    throw new GuestBootError(
      'linux.uml not found (install the Debian package user-mode-linux, or set KUBE_IPVS_LINUX_UML)', '');
  }
  const modulesDir = resolve(opts.modulesDir ?? '/usr/lib/uml/modules');
  const available = availableModules(modulesDir);
  if (!available) {
    throw new GuestBootError(`no kernel modules (modules.dep) under ${modulesDir}: install user-mode-linux`, '');
  }
  const required = opts.modules ?? REQUIRED_MODULES;
  const absent = required.filter((m) => !available.has(m.replace(/-/g, '_')));
  if (absent.length) throw new GuestBootError(`required kernel modules not in ${modulesDir}: ${absent.join(' ')}`, '');
  // Absent optional modules are left out up front: the guest's one-by-one retry is slow.
  const optional = (opts.optionalModules ?? OPTIONAL_MODULES).filter((m) => available.has(m.replace(/-/g, '_')));
  const optionalAbsent = (opts.optionalModules ?? OPTIONAL_MODULES).filter((m) => !optional.includes(m));
  const initSource = join(packageRoot(), 'src', 'sandbox', 'guest-init.sh');
  if (!existsSync(initSource)) throw new GuestBootError(`guest init script missing: ${initSource}`, '');
  const memory = opts.memory ?? '1536M';
  const memBytes = parseMemory(memory);
  const cwd = resolve(opts.cwd ?? process.cwd());
  if (opts.workDir) checkBootPath('work folder', resolve(opts.workDir));
  checkBootPath('modules folder', modulesDir);
  const workDir = resolve(opts.workDir ?? mkdtempSync(join(tmpdir(), 'kube-ipvs-guest-')));
  checkBootPath('work folder', workDir);
  mkdirSync(join(workDir, 'out'), { recursive: true });
  for (const f of ['exit-code', 'boot-error', 'modules-missing']) rmSync(join(workDir, f), { force: true });
  const expose = hiddenFolders([cwd, dirname(process.execPath), modulesDir, ...(opts.expose ?? [])]);
  for (const p of expose) checkBootPath('exposed folder', p);
  const init = join(workDir, 'init.sh');
  copyFileSync(initSource, init);
  chmodSync(init, 0o755);
  writeJob(workDir, { ...opts, modules: required, optionalModules: optional }, cwd, expose, modulesDir);
  mkdirSync(join(workDir, 'uml'), { recursive: true });

  const args = [
    `mem=${memory}`,
    'rootfstype=hostfs', 'rootflags=/', 'ro',
    `init=${init}`,
    `KIPVS_WORK=${workDir}`,
    // One console on our stdout; no serial lines, no xterms. stdin is /dev/null (CI has none).
    'con=null', 'con0=fd:0,fd:1', 'ssl=null',
    // UML's per-instance control folder (default ~/.uml), kept with the rest of the scratch.
    `uml_dir=${join(workDir, 'uml')}`,
    'quiet',
  ];
  const env = { ...process.env };
  const memDir = memoryFileDir(memBytes, workDir);
  if (memDir) env.TMPDIR = memDir;

  const consoleLog = join(workDir, 'console.log');
  const logStream = createWriteStream(consoleLog);
  const tail: string[] = [];
  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  const started = Date.now();
  let bootMs = -1;
  let panic: string | undefined;

  return new Promise<GuestResult>((resolvePromise, reject) => {
    // Own process group: UML runs one host process per guest address space, all of which must die on timeout.
    const child = spawn(linux, args, { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
    let killedFor: string | undefined;
    const killGuest = (why: string) => {
      if (killedFor) return;
      killedFor = why;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => killGuest(`guest timed out after ${Math.round(timeoutMs / 1000)} s`), timeoutMs);
    const onAbort = () => killGuest('guest stopped by its caller');
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    let partial = '';
    const onData = (b: Buffer) => {
      logStream.write(b);
      partial += b.toString('utf8');
      let nl: number;
      while ((nl = partial.indexOf('\n')) !== -1) {
        const line = partial.slice(0, nl).replace(/\r$/, '');
        partial = partial.slice(nl + 1);
        tail.push(line);
        if (tail.length > CONSOLE_TAIL_LINES) tail.shift();
        if (line.startsWith('KIPVS: READY')) bootMs = Date.now() - started;
        if (!panic && /Kernel panic/.test(line)) panic = line.trim();
        opts.onConsoleLine?.(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new GuestBootError(`cannot start ${linux}: ${e.message}`, '', workDir));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (partial) tail.push(partial);
      logStream.end();
      const totalMs = Date.now() - started;
      const consoleTail = tail.join('\n');
      const exitText = readIfExists(join(workDir, 'exit-code'));
      const bootError = readIfExists(join(workDir, 'boot-error'));
      const missing = [
        ...optionalAbsent,
        ...(readIfExists(join(workDir, 'modules-missing')) ?? '').split(/\s+/).filter(Boolean),
      ];
      // A timeout or an abort wins even if the job wrote its exit code: the guest did not end on its own.
      if (killedFor) return reject(new GuestBootError(killedFor, consoleTail, workDir));
      if (bootError) return reject(new GuestBootError(`guest could not run the job: ${bootError.trim()}`, consoleTail, workDir));
      if (exitText === undefined || !/^\d+\s*$/.test(exitText)) {
        const why = panic
          ? `guest kernel panic: ${panic}`
          : `guest stopped before the job finished (linux.uml exit ${code ?? signal})`;
        return reject(new GuestBootError(why, consoleTail, workDir));
      }
      resolvePromise({
        exitCode: Number(exitText.trim()),
        outDir: join(workDir, 'out'),
        workDir,
        consoleLog,
        bootMs,
        totalMs,
        missingOptionalModules: missing,
      });
    });
  });
}

/** Deletes a work folder made by runInGuest (results already read). */
export function removeWorkDir(workDir: string): void {
  try {
    if (statSync(workDir).isDirectory()) rmSync(workDir, { recursive: true, force: true });
  } catch {
    /* already gone */
  }
}
