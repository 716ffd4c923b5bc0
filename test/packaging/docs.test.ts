// The operator docs stay true to the code and the manifests: links resolve, every kube-ipvs flag they name
// exists, the annotations and schedulers they list are the ones the code reads, and the YAML examples
// they give are valid (Kubernetes objects against their schema, config snippets through the --config loader).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/cli/config-file.js';
import { flagByName } from '../../src/cli/flag-table.js';
import { IPVS_SCHEDULERS } from '../../src/cli/validate.js';
import {
  ANNOTATION_KUBE_ROUTER_SCHEDFLAGS,
  ANNOTATION_KUBE_ROUTER_SCHEDULER,
  ANNOTATION_SCHEDULER,
  ANNOTATION_SCHEDULER_FLAGS,
  KNOWN_SCHEDULERS,
} from '../../src/desired/scheduler.js';
import { CHART_DIR } from './chart-files.js';
import { validateKubernetesObject } from './k8s-schema.js';
import { isObject, parseYamlDocuments, readRepoFile, repoPath, type JsonObject } from './repo.js';

const DOCS = ['docs/install.md', 'docs/operations.md', 'deploy/README.md', 'charts/README.md', `${CHART_DIR}/README.md`];

const read = (file: string): string => readRepoFile(file);

/** Fenced code blocks of a markdown text with their language tag. */
function codeBlocks(text: string): { lang: string; body: string }[] {
  return [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, body: m[2]! }));
}

describe('operator docs', () => {
  it('relative links point at files that exist', () => {
    for (const file of DOCS) {
      for (const m of read(file).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        assert.ok(existsSync(join(dirname(repoPath(file)), target)), `${file}: link ${target}`);
      }
    }
  });

  it('every kube-ipvs flag they name exists', () => {
    const named = new Set<string>();
    for (const file of [...DOCS, `${CHART_DIR}/values.yaml`]) {
      const text = read(file);
      // Code spans that are one flag (`--flag` or `--flag=value`), the flags of `kube-ipvs ...` command lines,
      // and quoted extraArgs examples. (Spans such as `--set a=b` belong to other tools.)
      for (const m of text.matchAll(/`--([a-z][a-z0-9-]*)(?:=[^`\s]*)?`/g)) named.add(m[1]!);
      for (const m of text.matchAll(/(?<![\w/.=-])kube-ipvs(?: [a-z]+)?((?: --[a-z][a-z0-9-]*(?:[= ][^\s`]+)?)+)/g)) {
        for (const f of m[1]!.matchAll(/--([a-z][a-z0-9-]*)/g)) named.add(f[1]!);
      }
      for (const m of text.matchAll(/"--([a-z][a-z0-9-]*)=/g)) named.add(m[1]!);
    }
    assert.ok(named.has('ipvs-graceful-termination-period') && named.has('cleanup'), [...named].join(' '));
    for (const flag of named) assert.ok(flagByName(flag), `--${flag} is not a kube-ipvs flag`);
  });

  it('name the scheduler annotations the code reads', () => {
    const ops = read('docs/operations.md');
    for (const a of [ANNOTATION_SCHEDULER, ANNOTATION_SCHEDULER_FLAGS, ANNOTATION_KUBE_ROUTER_SCHEDULER, ANNOTATION_KUBE_ROUTER_SCHEDFLAGS]) {
      assert.ok(ops.includes(`\`${a}`), a);
    }
  });

  it('list the schedulers the code and the chart schema accept', () => {
    const schema = JSON.parse(readRepoFile(CHART_DIR, 'values.schema.json')) as JsonObject;
    const schemaSchedulers = ((schema['properties'] as JsonObject)['scheduler'] as JsonObject)['enum'] as string[];
    assert.deepEqual(schemaSchedulers.filter((s) => s !== '').sort(), [...IPVS_SCHEDULERS].sort());
    assert.deepEqual([...KNOWN_SCHEDULERS].sort(), [...IPVS_SCHEDULERS].sort());
    const listed = /any kernel\s+scheduler: `([a-z ]+)`/.exec(read('docs/operations.md'))?.[1]?.split(' ');
    assert.deepEqual(listed?.sort(), [...IPVS_SCHEDULERS].sort());
  });

  it('Kubernetes objects in YAML examples are valid', async () => {
    let objects = 0;
    for (const file of DOCS) {
      for (const block of codeBlocks(read(file)).filter((b) => b.lang === 'yaml')) {
        for (const doc of parseYamlDocuments(block.body, file)) {
          if (typeof doc['apiVersion'] !== 'string' || typeof doc['kind'] !== 'string') continue;
          objects++;
          assert.deepEqual(await validateKubernetesObject(doc), [], file);
        }
      }
    }
    assert.ok(objects >= 1, 'the cleanup Pod example is checked');
  });

  it('KubeProxyConfiguration snippets in YAML examples load without warnings', () => {
    let snippets = 0;
    for (const file of DOCS) {
      for (const block of codeBlocks(read(file)).filter((b) => b.lang === 'yaml')) {
        for (const doc of parseYamlDocuments(block.body, file)) {
          if ('apiVersion' in doc || !isObject(doc['ipvs'])) continue;
          snippets++;
          const text = `apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n${block.body}`;
          assert.deepEqual(parseConfigText(text, file).warnings, [], file);
        }
      }
    }
    assert.ok(snippets >= 1);
  });

  it('say plainly what was not verified here (image build, helm)', () => {
    const install = read('docs/install.md');
    assert.match(install, /has not been built/);
    assert.match(install, /`helm` is not installed/);
  });
});
