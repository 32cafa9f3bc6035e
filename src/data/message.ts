/** A turn of an aligned conversation, as LLaMA-Factory's converters and templates exchange it. */
export type Role = 'user' | 'assistant' | 'system' | 'function' | 'observation';

/** user/observation turns sit at even indices, assistant/function turns at odd ones; the system prompt is separate. */
export interface Message {
  role: Role;
  content: string;
}
