/**
 * The few arguments a command has of its own (not LLaMA-Factory dataclass fields), as tables like the others so that
 * every command reads them with the same parser: YAML, `key=value`, `--key value`, booleans in every spelling.
 */
import { bool, int, optInt, optList, optStr } from './spec.js';

/** `lmforge chat`: the system prompt is LLaMA-Factory's default_system (alias --system). */
export const CHAT_ARGS = {
  show_speed: bool(false, 'Print the tokens and tokens/s after each answer.'),
};

/** `lmforge api`: where and how many; unset ones come from API_HOST, API_PORT, ... or the defaults. */
export const SERVER_ARGS = {
  host: optStr('Address to listen on (default API_HOST or 0.0.0.0).'),
  port: optInt('Port to listen on (default API_PORT or 8000).'),
  max_concurrent: optInt('Generations run at once (default API_MAX_CONCURRENT or 1).'),
  max_waiting: optInt('Requests queued beyond those before a 503 (default API_MAX_WAITING or 16).'),
};

/** `lmforge data preview|stats`: which records to show and how. */
export const INSPECT_ARGS = {
  index: int(0, 'preview: the first record to show.'),
  count: int(1, 'preview: how many records to show.'),
  json: bool(false, 'Machine-readable output.'),
};

/** `lmforge webui`: where it listens, the token a non-loopback address needs, and the folders the board may touch. */
export const WEBUI_ARGS = {
  host: optStr('Address to listen on (default 127.0.0.1; any other address needs --token or WEBUI_TOKEN).'),
  port: optInt('Port to listen on (default 7860, as LlamaBoard).'),
  token: optStr('Token every request must carry (default WEBUI_TOKEN); required when --host is not loopback.'),
  work_dirs: optList(
    'Folders the board may read and write (comma-separated; default the current folder). Every path stays inside.',
  ),
};
