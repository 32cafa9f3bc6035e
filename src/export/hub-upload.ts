/**
 * `export_hub_model_id`: the exported folder uploaded to a Hugging Face model repo (created when missing, as
 * push_to_hub does), one commit with every file. The token is `hf_hub_token` or HF_TOKEN; the hub is HF_ENDPOINT
 * (default https://huggingface.co). Everything that can be known before the export (a token, HF_HUB_OFFLINE) is
 * checked before the weights are merged; a hub that cannot be reached fails in seconds, saying that the local
 * export is complete and how to upload it later.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRepo, HubApiError, uploadFiles, whoAmI } from '@huggingface/hub';

export class HubUploadError extends Error {
  readonly userFacing = true;
  override name = 'HubUploadError';
}

export interface HubTarget {
  repoId: string;
  token: string;
  hubUrl: string;
}

function offline(): boolean {
  const v = (process.env.HF_HUB_OFFLINE ?? '').toLowerCase();
  return v === '1' || v === 'true' || v === 'yes';
}

/** The upload's repo, token and hub, or an error saying what is missing (called before any work). */
export function hubTarget(repoId: string, hfHubToken: string | null): HubTarget {
  const token = hfHubToken ?? process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN ?? null;
  if (!token)
    throw new HubUploadError(
      `export_hub_model_id ${repoId} needs a Hugging Face token with write access: set HF_TOKEN (or hf_hub_token), ` +
        'or remove export_hub_model_id to export locally only',
    );
  if (!token.startsWith('hf_'))
    throw new HubUploadError(
      `${hfHubToken ? 'hf_hub_token' : 'HF_TOKEN'} is not a Hugging Face access token (they start with hf_): ` +
        'create one with write access at https://huggingface.co/settings/tokens',
    );
  if (offline())
    throw new HubUploadError(
      `export_hub_model_id ${repoId}: HF_HUB_OFFLINE is set, so nothing can be uploaded; unset it, or remove ` +
        'export_hub_model_id to export locally only',
    );
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(repoId))
    throw new HubUploadError(
      `export_hub_model_id ${JSON.stringify(repoId)} is not a repo id: use <name> or <user or org>/<name>`,
    );
  return { repoId, token, hubUrl: (process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/$/, '') };
}

/** How long to wait for the hub to start answering a request (env LMFORGE_HUB_TIMEOUT_MS, default 10 s). */
function timedFetch(): typeof fetch {
  const ms = Number(process.env.LMFORGE_HUB_TIMEOUT_MS) || 10_000;
  return async (input, init) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${ms} ms`)), ms);
    init?.signal?.addEventListener('abort', () => controller.abort(init.signal?.reason));
    try {
      return await fetch(input, { ...init, signal: controller.signal });
    } finally {
      clearTimeout(timer);
    }
  };
}

function reasonOf(err: unknown): string {
  if (err instanceof HubApiError) return `HTTP ${err.statusCode} from ${err.url}: ${err.message}`;
  const e = err as Error & { cause?: Error & { code?: string } };
  const code = e.cause?.code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return `no network (cannot resolve the hub's host: ${e.cause?.message})`;
  if (code === 'ECONNREFUSED') return `connection refused (${e.cause?.message})`;
  return e.cause ? `${e.message} (${e.cause.message})` : e.message;
}

/** Uploads every file of `dir` to the repo in one commit; returns the repo's full id. */
export async function uploadExport(dir: string, target: HubTarget): Promise<string> {
  const fetch = timedFetch();
  const credentials = { accessToken: target.token, hubUrl: target.hubUrl, fetch };
  try {
    let repoId = target.repoId;
    if (!repoId.includes('/')) repoId = `${(await whoAmI(credentials)).name}/${repoId}`;
    try {
      await createRepo({ ...credentials, repo: { type: 'model', name: repoId } });
    } catch (e) {
      // 409: the repo exists already, which push_to_hub accepts too.
      if (!(e instanceof HubApiError && e.statusCode === 409)) throw e;
    }
    const root = resolve(dir);
    const files = readdirSync(root)
      .filter((f) => statSync(join(root, f)).isFile())
      .sort()
      .map((f) => ({ path: f, content: pathToFileURL(join(root, f)) }));
    await uploadFiles({
      ...credentials,
      repo: { type: 'model', name: repoId },
      files,
      commitTitle: 'Upload model exported by lmforge',
    });
    return repoId;
  } catch (e) {
    throw new HubUploadError(
      `could not upload to ${target.repoId} on ${target.hubUrl}: ${reasonOf(e)}. The export itself is complete in ` +
        `${dir}; upload it later (e.g. \`huggingface-cli upload ${target.repoId} ${dir}\`) or run the export again ` +
        'with a network',
    );
  }
}
