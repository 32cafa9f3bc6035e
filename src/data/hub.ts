/**
 * Hub downloads of datasets named by `hf_hub_url` / `ms_hub_url` / `om_hub_url`.
 *
 * Hugging Face: the repo snapshot goes to the standard HF cache (HF_HUB_CACHE / HF_HOME), so files downloaded by
 * Python's huggingface_hub are found and reused, and a cached snapshot is used without touching the network.
 * ModelScope: plain HTTP on the public API its SDK uses (list the repo tree, download each data file) into
 * MODELSCOPE_CACHE (default ~/.cache/modelscope/hub). OpenMind (Modelers) has no public HTTP API we can rely on.
 * Every request times out quickly when the host does not answer, so an offline machine fails in seconds with
 * a message that names the dataset and says what to do.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { downloadFileToCacheDir, getHFHubCachePath, getRepoFolderName, snapshotDownload } from '@huggingface/hub';
import type { DatasetAttr } from './dataset-info.js';
import { HubDownloadError } from './errors.js';
import { fileType } from './loaders.js';
import { resolveSplitFiles } from './split-files.js';

export interface HubOptions {
  /** LLaMA-Factory's `cache_dir`; defaults to each hub's standard cache */
  cacheDir?: string | null;
  hfToken?: string | null;
  msToken?: string | null;
  /** how long to wait for a server to start answering a request (default 10 s, env LMFORGE_HUB_TIMEOUT_MS) */
  timeoutMs?: number;
}

function timeoutMs(opts: HubOptions): number {
  return opts.timeoutMs ?? (Number(process.env.LMFORGE_HUB_TIMEOUT_MS) || 10_000);
}

/** fetch whose wait for the response headers is bounded; the body may then take as long as it needs. */
function fetchWithTimeout(ms: number): typeof fetch {
  return async (input, init) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${ms} ms`)), ms);
    const outer = init?.signal;
    outer?.addEventListener('abort', () => controller.abort(outer.reason));
    try {
      return await fetch(input, { ...init, signal: controller.signal });
    } finally {
      clearTimeout(timer);
    }
  };
}

/** The network error's root cause in words (fetch wraps DNS/connect errors in `cause`). */
function reasonOf(err: unknown): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  const cause = e.cause;
  if (cause?.code === 'ENOTFOUND' || cause?.code === 'EAI_AGAIN')
    return `no network (cannot resolve host: ${cause.message})`;
  if (cause) return `${e.message} (${cause.message})`;
  return e.message;
}

function offline(): boolean {
  const v = (process.env.HF_HUB_OFFLINE ?? process.env.HF_DATASETS_OFFLINE ?? '').toLowerCase();
  return v === '1' || v === 'true' || v === 'yes';
}

/** Downloads (or finds in the cache) a hub dataset and returns its local data files for `attr.split`. */
export async function downloadHubDataset(attr: DatasetAttr, opts: HubOptions = {}): Promise<string[]> {
  if (attr.load_from === 'hf_hub') return resolveSplitFiles(await hfSnapshot(attr, opts), attr);
  if (attr.load_from === 'ms_hub') return msDownload(attr, opts);
  if (attr.load_from === 'om_hub') {
    throw new HubDownloadError(
      attr.name,
      attr.dataset_name,
      'om_hub',
      'OpenMind downloads are not supported by lmforge (unset USE_OPENMIND_HUB to use hf_hub_url, if the entry has one)',
    );
  }
  throw new Error(`downloadHubDataset called for a ${attr.load_from} dataset`);
}

function hfCachedSnapshot(cacheDir: string, repo: string, revision: string): string | null {
  const repoDir = join(cacheDir, getRepoFolderName({ name: repo, type: 'dataset' }));
  let commit = revision;
  const ref = join(repoDir, 'refs', revision);
  if (existsSync(ref)) commit = readFileSync(ref, 'utf8').trim();
  const snap = join(repoDir, 'snapshots', commit);
  return existsSync(snap) ? snap : null;
}

async function hfSnapshot(attr: DatasetAttr, opts: HubOptions): Promise<string> {
  const cacheDir = opts.cacheDir ?? getHFHubCachePath();
  const revision = attr.revision ?? 'main';
  const cached = hfCachedSnapshot(cacheDir, attr.dataset_name, revision);
  if (cached) return cached;
  if (offline()) {
    throw new HubDownloadError(
      attr.name,
      attr.dataset_name,
      'hf_hub',
      `HF_HUB_OFFLINE is set and it is not in the cache ${cacheDir}`,
    );
  }
  try {
    return await snapshotDownload({
      repo: { type: 'dataset', name: attr.dataset_name },
      revision,
      cacheDir,
      fetch: fetchWithTimeout(timeoutMs(opts)),
      ...(opts.hfToken ? { accessToken: opts.hfToken } : {}),
    });
  } catch (err) {
    throw new HubDownloadError(attr.name, attr.dataset_name, 'hf_hub', reasonOf(err));
  }
}

/** Downloads one file of a HF dataset repo (for dataset_dir `REMOTE:<repo>`) and returns its local path. */
export async function downloadHfDatasetFile(repo: string, file: string, opts: HubOptions = {}): Promise<string> {
  const cacheDir = opts.cacheDir ?? getHFHubCachePath();
  const cached = hfCachedSnapshot(cacheDir, repo, 'main');
  if (cached && existsSync(join(cached, file))) return join(cached, file);
  if (offline()) throw new HubDownloadError(repo, repo, 'hf_hub', `HF_HUB_OFFLINE is set and ${file} is not cached`);
  try {
    return await downloadFileToCacheDir({
      repo: { type: 'dataset', name: repo },
      path: file,
      cacheDir,
      fetch: fetchWithTimeout(timeoutMs(opts)),
      ...(opts.hfToken ? { accessToken: opts.hfToken } : {}),
    });
  } catch (err) {
    throw new HubDownloadError(repo, repo, 'hf_hub', reasonOf(err));
  }
}

interface MsFile {
  Path: string;
  Type: string;
}

async function msDownload(attr: DatasetAttr, opts: HubOptions): Promise<string[]> {
  const endpoint = (process.env.MODELSCOPE_DOMAIN ?? 'https://www.modelscope.cn').replace(/\/$/, '');
  const revision = attr.revision ?? 'master';
  const cacheRoot = opts.cacheDir ?? process.env.MODELSCOPE_CACHE ?? join(homedir(), '.cache', 'modelscope', 'hub');
  const root = join(cacheRoot, 'datasets', ...attr.dataset_name.split('/'), revision);
  // a finished earlier download is used as is, so an offline machine can still train on it
  const complete = join(root, '.lmforge-complete');
  if (existsSync(complete)) return resolveSplitFiles(root, attr);
  const api = `${endpoint}/api/v1/datasets/${attr.dataset_name}/repo`;
  const doFetch = fetchWithTimeout(timeoutMs(opts));
  const headers: Record<string, string> = opts.msToken ? { Cookie: `m_session_id=${opts.msToken}` } : {};
  try {
    const listUrl = `${api}/tree?Revision=${encodeURIComponent(revision)}&Root=/&Recursive=True&PageNumber=1&PageSize=10000`;
    const res = await doFetch(listUrl, { headers });
    if (!res.ok) throw new Error(`listing the repo returned HTTP ${res.status}`);
    const body = (await res.json()) as { Success?: boolean; Message?: string; Data?: { Files?: MsFile[] } };
    if (body.Success === false || !Array.isArray(body.Data?.Files)) {
      throw new Error(`the repo was not found (${body.Message ?? 'no file list in the answer'})`);
    }
    const files = (body.Data?.Files ?? []).filter(
      (f) => (f.Type === 'blob' || f.Type === 'file') && fileType(f.Path) !== undefined,
    );
    if (files.length === 0) throw new Error('the repo holds no json/jsonl/csv/parquet/txt files');
    for (const f of files) {
      const target = join(root, ...f.Path.split('/'));
      if (existsSync(target)) continue;
      const url = `${api}?Revision=${encodeURIComponent(revision)}&FilePath=${encodeURIComponent(f.Path)}`;
      const r = await doFetch(url, { headers });
      if (!r.ok || r.body === null) throw new Error(`downloading ${f.Path} returned HTTP ${r.status}`);
      mkdirSync(dirname(target), { recursive: true });
      await pipeline(Readable.fromWeb(r.body as never), createWriteStream(`${target}.part`));
      renameSync(`${target}.part`, target);
    }
    mkdirSync(root, { recursive: true });
    writeFileSync(complete, new Date().toISOString());
  } catch (err) {
    if (err instanceof HubDownloadError) throw err;
    throw new HubDownloadError(attr.name, attr.dataset_name, 'ms_hub', reasonOf(err));
  }
  return resolveSplitFiles(root, attr);
}
