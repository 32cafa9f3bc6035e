/**
 * export_hub_model_id against a local stand-in for the Hub's HTTP API (HF_ENDPOINT): the repo is created (or found:
 * 409), every exported file arrives in one commit byte for byte, a bare repo name gets the token owner's namespace;
 * a hub that refuses the connection fails in seconds with the local export complete.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { exportModel } from '../../src/export/index.js';
import { tempDir } from '../util/tokenizers.js';
import { exportArgs, quiet } from './helpers.js';

interface Received {
  created: string[];
  commits: { repo: string; title: string; files: Map<string, Buffer> }[];
  auth: Set<string>;
}

const received: Received = { created: [], commits: [], auth: new Set() };
const existing = new Set<string>();

async function body(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

const hub: Server = createServer(async (req, res) => {
  received.auth.add(req.headers.authorization ?? '');
  const text = await body(req);
  const json = (status: number, value: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };
  const url = req.url ?? '';
  if (url === '/api/whoami-v2') return json(200, { name: 'owner', auth: {} });
  if (url === '/api/repos/create') {
    const { name, organization } = JSON.parse(text) as { name: string; organization: string };
    const id = `${organization}/${name}`;
    if (existing.has(id)) return json(409, { error: 'You already created this model repo' });
    existing.add(id);
    received.created.push(id);
    return json(200, { url: `http://hub/${id}`, id });
  }
  let m = /^\/api\/models\/(.+)\/preupload\/main$/.exec(url);
  if (m) {
    const { files } = JSON.parse(text) as { files: { path: string }[] };
    return json(200, { files: files.map((f) => ({ path: f.path, uploadMode: 'regular' })) });
  }
  m = /^\/api\/models\/(.+)\/commit\/main$/.exec(url);
  if (m) {
    const lines = text.split('\n').map((l) => JSON.parse(l) as { key: string; value: Record<string, string> });
    const files = new Map<string, Buffer>();
    for (const l of lines)
      if (l.key === 'file') files.set(l.value.path as string, Buffer.from(l.value.content as string, 'base64'));
    received.commits.push({ repo: m[1] as string, title: lines[0]?.value.summary as string, files });
    return json(200, { commitOid: 'abc123', commitUrl: `http://hub/${m[1]}/commit/abc123` });
  }
  json(404, { error: `no route ${url}` });
});
await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
after(() => hub.close());
const endpoint = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;

async function withEnv<T>(env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  for (const [k, v] of Object.entries(env))
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  try {
    return await fn();
  } finally {
    process.env = saved;
  }
}

test('the export is uploaded to a new repo in one commit, every file byte for byte', async () => {
  const out = join(tempDir('export-upload'), 'merged');
  const result = await withEnv({ HF_ENDPOINT: endpoint, HF_TOKEN: 'hf_from_env', HF_HUB_OFFLINE: undefined }, () =>
    exportModel(exportArgs({ export_dir: out, export_size: 0.004, export_hub_model_id: 'me/tiny' }), { log: quiet }),
  );
  assert.equal(result.hubRepo, 'me/tiny');
  assert.deepEqual(received.created, ['me/tiny']);
  const commit = received.commits.at(-1);
  assert.equal(commit?.repo, 'me/tiny');
  assert.equal(commit?.title, 'Upload model exported by lmforge');
  assert.deepEqual([...(commit?.files.keys() ?? [])].sort(), readdirSync(out).sort());
  for (const f of readdirSync(out)) assert.deepEqual(commit?.files.get(f), readFileSync(join(out, f)), f);
  assert.ok(received.auth.has('Bearer hf_from_env'));
});

test('an existing repo (409) is uploaded to; hf_hub_token wins over HF_TOKEN; a bare name gets the owner', async () => {
  const out = join(tempDir('export-upload-again'), 'merged');
  await withEnv({ HF_ENDPOINT: endpoint, HF_TOKEN: 'hf_from_env' }, () =>
    exportModel(exportArgs({ export_dir: out, export_hub_model_id: 'me/tiny', hf_hub_token: 'hf_from_args' }), {
      log: quiet,
    }),
  );
  assert.equal(received.commits.at(-1)?.repo, 'me/tiny');
  assert.ok(received.auth.has('Bearer hf_from_args'));
  const bare = await withEnv({ HF_ENDPOINT: endpoint, HF_TOKEN: 'hf_from_env' }, () =>
    exportModel(exportArgs({ export_dir: out, export_hub_model_id: 'tiny-bare' }), { log: quiet }),
  );
  assert.equal(bare.hubRepo, 'owner/tiny-bare');
  assert.equal(received.commits.at(-1)?.repo, 'owner/tiny-bare');
});

test('a hub that refuses the connection: the local export is complete and the error says how to upload later', async () => {
  // a port that was just free: nothing listens there, so the connection is refused as on a machine without network
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const out = join(tempDir('export-hub-down'), 'merged');
  const started = Date.now();
  await withEnv({ HF_ENDPOINT: `http://127.0.0.1:${port}`, HF_TOKEN: 'hf_test', HF_HUB_OFFLINE: undefined }, () =>
    assert.rejects(
      exportModel(exportArgs({ export_dir: out, export_hub_model_id: 'me/tiny' }), { log: quiet }),
      (e: Error) =>
        new RegExp(`could not upload to me/tiny on http://127\\.0\\.0\\.1:${port}: connection refused`).test(
          e.message,
        ) && /The export itself is complete in .*merged; upload it later/.test(e.message),
    ),
  );
  assert.ok(Date.now() - started < 10_000);
  assert.ok(readdirSync(out).includes('model.safetensors'));
});
