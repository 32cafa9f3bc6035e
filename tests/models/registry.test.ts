// Families by config.architectures: every architecture config.json parsing accepts builds through a registered
// family, and an unregistered one is refused by name, listing those that are registered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SUPPORTED_ARCHITECTURES } from '../../src/io/model-config.js';
import { familyFor, registeredArchitectures } from '../../src/models/registry.js';

test('every supported architecture has a registered family, and only those', () => {
  assert.deepEqual([...registeredArchitectures()].sort(), [...SUPPORTED_ARCHITECTURES].sort());
  for (const architecture of SUPPORTED_ARCHITECTURES)
    assert.ok(familyFor({ architecture }).architectures.includes(architecture), architecture);
});

test('an unregistered architecture is refused with the registered list', () => {
  assert.throws(
    () => familyFor({ architecture: 'GPT2LMHeadModel' as never }),
    /no model family implements GPT2LMHeadModel \(registered: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, GemmaForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM, Phi3ForCausalLM, InternLM2ForCausalLM, BaichuanForCausalLM, MixtralForCausalLM, Qwen2MoeForCausalLM, Qwen3MoeForCausalLM, ChatGLMModel, ChatGLMForConditionalGeneration, GlmForCausalLM\)/,
  );
});
