/**
 * A ChatModel loaded on first use: `kb ask` answers "not found" without loading a model when nothing passes the
 * threshold, and loads it only once something is to be generated.
 */
import type { GenerationOptions, Message, StreamPiece } from '../infer/chat-engine.js';
import { ChatModel } from '../infer/chat-model.js';
import type { ChatModelArgs } from '../infer/chat-runner.js';
import type { AnsweringModel } from './answer.js';
import type { Encoder } from './dense.js';

export class LazyChatModel implements AnsweringModel, Encoder {
  private loading: Promise<ChatModel> | null = null;

  constructor(
    private readonly args: ChatModelArgs,
    private readonly onLoad: () => void = () => {},
  ) {}

  private model(): Promise<ChatModel> {
    if (!this.loading) {
      this.onLoad();
      this.loading = ChatModel.load(this.args, { inProcess: true });
    }
    return this.loading;
  }

  async chat(messages: readonly Message[], opts: GenerationOptions) {
    return (await this.model()).chat(messages, opts);
  }

  async chatLive(messages: readonly Message[], opts: GenerationOptions, onPiece: (piece: StreamPiece) => void) {
    return (await this.model()).chatLive(messages, opts, onPiece);
  }

  /** The encoder name embeddings are cached under: the model folder. */
  get name(): string {
    return this.args.model_name_or_path;
  }

  async embed(texts: readonly string[]) {
    return (await this.model()).embed(texts);
  }

  async close(): Promise<void> {
    if (this.loading) await (await this.loading).close();
  }
}
