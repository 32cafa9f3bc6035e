/**
 * The Chat tab's model: one ChatModel (in its worker thread, so the board keeps answering while it generates)
 * loaded from a model folder and optional adapters inside the work dirs, shared by every browser of the board.
 */
import type { GenerationOptions, GenerationStream, Message } from '../infer/chat-engine.js';
import { ChatModel } from '../infer/chat-model.js';
import type { WorkDirs } from './work-dirs.js';

export interface LoadRequest {
  model_name_or_path: string;
  adapter_name_or_path?: string[] | null;
  template?: string | null;
  default_system?: string | null;
}

export interface ChatStatus {
  loaded: boolean;
  model: string | null;
  adapters: string[];
  template: string | null;
}

export class ChatSession {
  private model: ChatModel | null = null;
  private info: ChatStatus = { loaded: false, model: null, adapters: [], template: null };

  constructor(
    private readonly workDirs: WorkDirs,
    private readonly load_: (args: Parameters<typeof ChatModel.load>[0]) => Promise<ChatModel> = (a) =>
      ChatModel.load(a),
  ) {}

  status(): ChatStatus {
    return { ...this.info, adapters: [...this.info.adapters] };
  }

  /** Loads the model (unloading the previous one); every path is confined to the work dirs. */
  async load(req: LoadRequest): Promise<ChatStatus> {
    const modelDir = this.workDirs.resolve(req.model_name_or_path);
    const adapters = (req.adapter_name_or_path ?? []).filter((a) => a !== '').map((a) => this.workDirs.resolve(a));
    await this.unload();
    this.model = await this.load_({
      model_name_or_path: modelDir,
      adapter_name_or_path: adapters.length > 0 ? adapters : null,
      template: req.template || null,
      default_system: req.default_system ?? null,
    });
    this.info = {
      loaded: true,
      model: this.workDirs.display(modelDir),
      adapters: adapters.map((a) => this.workDirs.display(a)),
      template: req.template || null,
    };
    return this.status();
  }

  async unload(): Promise<void> {
    const model = this.model;
    this.model = null;
    this.info = { loaded: false, model: null, adapters: [], template: null };
    if (model) await model.close();
  }

  /** The answer's pieces as they are generated; `signal` (the browser's stop button or a closed tab) ends it. */
  stream(messages: readonly Message[], opts: GenerationOptions, signal: AbortSignal): GenerationStream {
    if (!this.model) {
      throw Object.assign(new Error('no model is loaded: pick a model path and press Load model first'), {
        userFacing: true,
      });
    }
    const stream = this.model.streamChat(messages, opts, signal);
    // A stopped answer rejects `result` with an AbortError; nobody awaits the totals here, so it must not surface
    // as an unhandled rejection (which ends the lmforge process).
    stream.result.catch(() => {});
    return stream;
  }
}
