// The Dockerfile, checked statically: no container engine runs on the development machines, so the image
// is never built here. These checks pin what a build would depend on: the stages, pinned base images, the
// packages kube-ipvs drives, what the runtime stage copies, the entrypoint, and the build context.

import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { describe, it } from 'node:test';
import { readRepoFile, repoPath } from './repo.js';

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Dockerfile instructions with line continuations joined and comments dropped (parser directives included). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    const start = i + 1;
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ');
      i++;
      if (/^\s*#/.test(lines[i]!)) continue; // comments inside a continuation are dropped by Docker too
      line += lines[i]!;
    }
    const m = /^\s*(\w+)\s+(.*)$/.exec(line);
    assert.ok(m, `Dockerfile line ${start}: cannot parse`);
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.replace(/\s+/g, ' ').trim(), line: start });
  }
  return out;
}

interface Stage {
  image: string;
  name: string;
  instructions: Instruction[];
}

function stages(instructions: Instruction[]): Stage[] {
  const out: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+ )?(\S+)(?: AS (\S+))?$/i.exec(ins.args);
      assert.ok(m, `FROM on line ${ins.line}`);
      out.push({ image: m[1]!, name: m[2] ?? String(out.length), instructions: [] });
    } else {
      assert.ok(out.length > 0 || ins.keyword === 'ARG', `${ins.keyword} before the first FROM`);
      out.at(-1)?.instructions.push(ins);
    }
  }
  return out;
}

const runs = (stage: Stage): string[] => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);

/** The paths an allow-list .dockerignore lets into the build context (Docker's rule: the last matching pattern wins, and a pattern matching a parent folder matches its files). */
function dockerignoreAllows(patterns: string[], path: string): boolean {
  const toRegex = (p: string): RegExp =>
    new RegExp(
      '^' +
        p
          .replace(/\/+$/, '')
          .split('/')
          .map((seg) => (seg === '**' ? '.*' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
          .join('/')
          .replace(/\.\*\//g, '(?:.*/)?') +
        '$',
    );
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let included = true;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const re = toRegex(negate ? raw.slice(1) : raw);
    if (prefixes.some((p) => re.test(p))) included = negate;
  }
  return included;
}

describe('Dockerfile', () => {
  const instructions = parseDockerfile(readRepoFile('Dockerfile'));
  const all = stages(instructions);
  const build = all.find((s) => s.name === 'build');
  const runtime = all.at(-1)!;

  it('has a build stage and a final runtime stage', () => {
    assert.deepEqual(all.map((s) => s.name), ['build', 'runtime']);
  });

  it('pins both stages to node 20 on Debian bookworm (slim), never :latest or untagged', () => {
    for (const s of all) {
      assert.match(s.image, /^node:20(\.\d+){0,2}-bookworm-slim(@sha256:[0-9a-f]{64})?$/, s.name);
    }
    assert.equal(build!.image, runtime.image, 'same base, so node_modules built in one stage run in the other');
    const engines = JSON.parse(readRepoFile('package.json')).engines.node as string;
    assert.match(engines, /^>=20\b/, 'package.json engines agree with node 20');
  });

  it('build stage: npm ci, then npm run build, then prune dev dependencies', () => {
    const text = runs(build!).join(' && ');
    const ci = text.indexOf('npm ci');
    const compile = text.indexOf('npm run build');
    const prune = text.search(/npm prune --omit=dev/);
    assert.ok(ci >= 0 && compile > ci && prune > compile, text);
    const copies = build!.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    assert.ok(copies[0]!.includes('package-lock.json') && copies[0]!.includes('.npmrc'), 'lockfile and .npmrc (ignore-scripts) first, for layer caching');
  });

  it('runtime stage installs the kernel tools non-interactively, without recommends, and drops the apt lists', () => {
    const install = runs(runtime).find((r) => r.includes('apt-get install'));
    assert.ok(install, 'an apt-get install RUN');
    assert.match(install, /apt-get update/);
    assert.match(install, /DEBIAN_FRONTEND=noninteractive/);
    assert.match(install, /apt-get install -y --no-install-recommends/);
    assert.match(install, /rm -rf \/var\/lib\/apt\/lists\/\*/, 'lists removed in the same layer');
    const packages = new Set(install.slice(install.indexOf('--no-install-recommends')).split(' ').slice(1).filter((w) => /^[a-z0-9][a-z0-9.+-]*$/.test(w)));
    // iptables: Debian's package has both backends (xtables-legacy-multi and xtables-nft-multi).
    for (const p of ['iptables', 'ipset', 'iproute2', 'kmod', 'conntrack']) assert.ok(packages.has(p), `installs ${p}`);
  });

  it('runtime stage copies only the production artefacts from the build stage', () => {
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD');
    assert.ok(copies.every((c) => c.keyword === 'COPY' && c.args.startsWith('--from=build ')), 'nothing from the build context');
    const sources = copies.map((c) => c.args.split(' ')[1]!.replace(/^\/opt\/kube-ipvs\//, '')).sort();
    assert.deepEqual(sources, ['bin', 'dist', 'node_modules', 'package.json']);
  });

  it('runs kube-ipvs as the exec-form entrypoint, found on PATH', () => {
    const entrypoints = runtime.instructions.filter((i) => i.keyword === 'ENTRYPOINT');
    assert.equal(entrypoints.length, 1);
    assert.deepEqual(JSON.parse(entrypoints[0]!.args), ['kube-ipvs']);
    assert.ok(runs(runtime).some((r) => /ln -s \/opt\/kube-ipvs\/bin\/kube-ipvs \/usr\/local\/bin\/kube-ipvs/.test(r)), 'symlinked into /usr/local/bin');
    assert.equal(runtime.instructions.find((i) => i.keyword === 'USER'), undefined, 'root: the DaemonSet runs it privileged');
  });

  it('the files it copies exist, and the entrypoint finds the compiled CLI where tsc writes it', () => {
    for (const f of ['package.json', 'package-lock.json', '.npmrc', 'tsconfig.json', 'src', 'bin/kube-ipvs']) {
      assert.ok(statSync(repoPath(f)), f);
    }
    assert.ok((statSync(repoPath('bin', 'kube-ipvs')).mode & 0o111) !== 0, 'bin/kube-ipvs is executable');
    assert.match(readRepoFile('bin', 'kube-ipvs'), /'\.\.\/dist\/src\/main\.js'/);
    const tsconfig = JSON.parse(readRepoFile('tsconfig.json')).compilerOptions;
    assert.equal(tsconfig.outDir, 'dist');
    assert.equal(tsconfig.rootDir, '.');
    assert.match(readRepoFile('.npmrc'), /^ignore-scripts=true$/m);
    assert.equal(JSON.parse(readRepoFile('package.json')).scripts.build.split(' ')[0], 'tsc');
  });

  describe('.dockerignore', () => {
    const patterns = readRepoFile('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));

    it('lets in exactly what the build stage copies', () => {
      for (const p of ['package.json', 'package-lock.json', '.npmrc', 'tsconfig.json', 'src/main.ts', 'src/model/ip.ts', 'bin/kube-ipvs']) {
        assert.ok(dockerignoreAllows(patterns, p), `${p} is in the build context`);
      }
    });

    it('keeps out local build output, dependencies, tests, git and scratch files', () => {
      for (const p of ['node_modules/yaml/package.json', 'dist/src/main.js', '.git/HEAD', '.run/x/y', 'test/model/ip.test.ts', 'charts/kube-ipvs/Chart.yaml', 'src/debug.log']) {
        assert.ok(!dockerignoreAllows(patterns, p), `${p} is left out`);
      }
    });
  });
});
