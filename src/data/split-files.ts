/**
 * Which files of a dataset repo (downloaded from a hub, or a local `script_url` folder) make up one split of one
 * subset, following HF datasets' conventions:
 * 1. a README.md whose YAML front matter lists `configs` (config_name, data_dir, data_files as globs or
 *    {split, path} lists) decides, with `subset` picking the config (default: the one marked default, or the only one);
 * 2. otherwise the default patterns: restricted to `folder` (data_dir) or the `subset` folder when one exists, the
 *    files whose path names the split (`train-00000-of-00002.parquet`, `data/validation.json`, `test/…`), or,
 *    when no file names any split, every data file as the train split.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { DatasetAttr } from './dataset-info.js';
import { DatasetFileError } from './errors.js';
import { fileType } from './loaders.js';

const KNOWN_SPLITS = ['train', 'validation', 'valid', 'dev', 'test', 'eval'];

function walk(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => !f.startsWith('.'))
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
}

/** Does a repo-relative path name this split (HF's `{split}[-._ 0-9/]` patterns)? */
function mentionsSplit(relPath: string, split: string): boolean {
  const escaped = split.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[/\\-._ 0-9])${escaped}($|[/\\-._ 0-9])`, 'i').test(relPath);
}

/** fnmatch-style glob over '/'-separated paths: `**` spans folders, `*` and `?` do not. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] as string;
    if (ch === '*' && glob[i + 1] === '*') {
      re += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += glob[i + 2] === '/' ? 2 : 1;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

interface RepoConfig {
  config_name?: string;
  data_dir?: string;
  data_files?: string | string[] | { split: string; path: string | string[] }[];
  default?: boolean;
}

function readConfigs(root: string): RepoConfig[] | null {
  const readme = join(root, 'README.md');
  if (!existsSync(readme)) return null;
  const m = /^---\r?\n([\s\S]*?)\r?\n---/.exec(readFileSync(readme, 'utf8'));
  if (!m) return null;
  try {
    const meta = parseYaml(m[1] as string) as { configs?: RepoConfig[] } | null;
    return Array.isArray(meta?.configs) && meta.configs.length > 0 ? meta.configs : null;
  } catch {
    return null; // a card we cannot parse: fall back to the default patterns
  }
}

function filesFromConfig(root: string, config: RepoConfig, attr: DatasetAttr): string[] | null {
  const df = config.data_files;
  if (df === undefined) return null;
  const all = walk(root).map((f) => relative(root, f).split(sep).join('/'));
  const match = (patterns: string | string[]) => {
    const res = (Array.isArray(patterns) ? patterns : [patterns]).map((p) =>
      globToRegExp(config.data_dir ? `${config.data_dir}/${p}` : p),
    );
    return all.filter((f) => res.some((r) => r.test(f)));
  };
  if (typeof df === 'string' || (Array.isArray(df) && df.every((x) => typeof x === 'string'))) {
    return attr.split === 'train' ? match(df as string | string[]) : [];
  }
  const entry = (df as { split: string; path: string | string[] }[]).find((e) => e.split === attr.split);
  return entry ? match(entry.path) : [];
}

export function resolveSplitFiles(root: string, attr: DatasetAttr): string[] {
  const configs = attr.folder ? null : readConfigs(root);
  if (configs !== null) {
    const config = attr.subset
      ? configs.find((c) => c.config_name === attr.subset)
      : (configs.find((c) => c.default) ?? (configs.length === 1 ? configs[0] : undefined));
    if (config === undefined) {
      const names = configs.map((c) => c.config_name ?? 'default').join(', ');
      throw new DatasetFileError(
        root,
        attr.subset
          ? `dataset "${attr.name}" has no subset "${attr.subset}"; available: ${names}`
          : `dataset "${attr.name}" has several subsets (${names}); set "subset" in dataset_info.json`,
      );
    }
    const listed = filesFromConfig(root, config, attr);
    if (listed !== null)
      return checkChosen(
        root,
        attr,
        listed.map((f) => join(root, ...f.split('/'))),
        listed,
      );
  }
  let base = root;
  if (attr.folder) base = join(root, attr.folder);
  else if (attr.subset && existsSync(join(root, attr.subset))) base = join(root, attr.subset);
  if (!existsSync(base)) {
    throw new DatasetFileError(base, `no such folder in dataset "${attr.name}"; check "folder" in dataset_info.json`);
  }
  const data = walk(base).filter((f) => fileType(f) !== undefined);
  const rel = (f: string) => relative(base, f).split(sep).join('/');
  const named = data.filter((f) => KNOWN_SPLITS.some((s) => mentionsSplit(rel(f), s)));
  const chosen =
    named.length === 0 ? (attr.split === 'train' ? data : []) : data.filter((f) => mentionsSplit(rel(f), attr.split));
  return checkChosen(base, attr, chosen, data.map(rel));
}

function checkChosen(base: string, attr: DatasetAttr, chosen: string[], seen: string[]): string[] {
  const data = chosen.filter((f) => fileType(f) !== undefined);
  if (data.length === 0) {
    const found = seen.slice(0, 10).join(', ') || '(no data files)';
    throw new DatasetFileError(
      base,
      `no data files for split "${attr.split}" of dataset "${attr.name}" (found: ${found}); ` +
        'set "split", "subset" or "folder" in dataset_info.json',
    );
  }
  const first = fileType(data[0] as string);
  return data.filter((f) => fileType(f) === first);
}
