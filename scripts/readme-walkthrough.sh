#!/usr/bin/env bash
# A newcomer's first hour (issue #23): README.md from the top, on a fresh copy of this checkout, every command as the
# README writes it except where a change keeps CI under ~2 minutes or stands in for what a reader downloads. Each
# such change says so below (SHORTER: fewer steps or samples; STAND-IN: the bundled tiny model for models/...).
# Stops at the first README promise that does not hold, naming it.
#
#   scripts/readme-walkthrough.sh            (tests/scripts/readme-walkthrough.test.ts runs it in CI)
#
# It needs what `npm ci` left in this checkout (node_modules, the built engine in build/Release): installing again
# would double CI's install time and needs the registry.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lmforge-walkthrough-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
step() { printf '\n== %s\n' "$*"; }
fail() {
  printf 'README walk-through: %s\n' "$*" >&2
  exit 1
}
expect() { # expect FILE REGEX WHAT: the README promise WHAT holds when FILE matches REGEX
  grep -Eq -- "$2" "$1" || {
    cat "$1" >&2
    fail "$3 (no match for /$2/ in the output above)"
  }
}
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

step 'a fresh copy: the files git knows (tracked and new), no saves/, no caches'
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | tar -c --null -T -) | tar -x
ln -s "$REPO/node_modules" node_modules
mkdir -p build && cp -R "$REPO/build/Release" build/Release

step 'npm install: the install script builds the engine (here: finds the copied build current and skips node-gyp)'
npm run --silent install >install.log 2>&1 || {
  cat install.log >&2
  fail 'the install script failed'
}

step 'npx lmforge train examples/quickstart.yaml   (SHORTER: max_steps=20 save_steps=10 of 440 and 110)'
npx lmforge train examples/quickstart.yaml max_steps=20 save_steps=10 2>train.log || {
  cat train.log >&2
  fail 'the quick start training failed'
}
for f in adapter_config.json adapter_model.safetensors tokenizer.json tokenizer_config.json trainer_log.jsonl \
  trainer_state.json train_results.json all_results.json training_loss.png training_args.yaml checkpoint-20; do
  [ -e "saves/quickstart/$f" ] || fail "saves/quickstart/$f is missing (the README's table lists it)"
done
expect train.log 'done: 20 steps, last logged loss [0-9.]+ \(step 20\), train_loss [0-9.]+ \(the mean' \
  'the last line names the last logged loss and the mean'

step 'the same command again: it says the training is complete and changes nothing'
before=$(sha256sum saves/quickstart/adapter_model.safetensors)
npx lmforge train examples/quickstart.yaml max_steps=20 save_steps=10 2>again.log
expect again.log 'already complete' 'a finished run says so'
[ "$before" = "$(sha256sum saves/quickstart/adapter_model.safetensors)" ] || fail 'running it again changed the adapter'

step 'npm test   (SHORTER: one file; CI runs the whole suite, and this script is part of it)'
npm test --silent -- tests/cli/help >test.log 2>&1 || {
  cat test.log >&2
  fail 'npm test failed'
}

step 'npx lmforge train -h lists every argument with its default'
npx lmforge train -h >help.log
expect help.log 'learning_rate' 'train -h lists the arguments'

step 'talk to it: the chat with --adapter_name_or_path, then with the training YAML'
printf 'Who are you?\nexit\n' | npx lmforge chat --model_name_or_path examples/tiny/base \
  --adapter_name_or_path saves/quickstart --template qwen --default_system "" --do_sample false >chat.log 2>chat.err
expect chat.log 'Assistant: .+' 'the chat answers'
printf 'Who are you?\nexit\n' | npx lmforge chat examples/quickstart.yaml do_sample=false >yaml-chat.log 2>yaml-chat.err
expect yaml-chat.err 'the adapter trained in saves/quickstart' 'the training YAML chat names the adapter it loads'
[ "$(grep -m1 Assistant: chat.log)" = "$(grep -m1 Assistant: yaml-chat.log)" ] ||
  fail 'the training YAML chat does not answer as the chat with --adapter_name_or_path saves/quickstart'

step 'data preview and data stats'
npx lmforge data preview --dataset identity --dataset_dir examples/data --template qwen --model examples/tiny/base >preview.log
npx lmforge data stats --dataset tiny_sft --dataset_dir examples/data --template qwen --model examples/tiny/base >stats.log
expect stats.log '^token lengths:' 'data stats prints the length histogram'

step 'the library (README "From a program" and "Library" blocks: tests/docs/code-blocks.test.ts runs them)'

step 'batch prediction   (STAND-IN: examples/tiny/base + saves/quickstart for models/Qwen3-0.6B + saves/lora; SHORTER: 4 samples)'
npx lmforge train --stage sft --model_name_or_path examples/tiny/base --adapter_name_or_path saves/quickstart \
  --template qwen --eval_dataset alpaca_en_demo --dataset_dir examples/data --do_predict --predict_with_generate \
  --per_device_eval_batch_size 8 --max_new_tokens 16 --do_sample false --output_dir saves/predict \
  --max_samples 4 2>predict.log
for f in generated_predictions.jsonl predict_results.json; do
  [ -e "saves/predict/$f" ] || fail "saves/predict/$f is missing"
done
expect predict.log '\*\*\*\*\* predict metrics \*\*\*\*\*' 'prediction prints its metrics'
! grep -Eq 'predict_[a-z0-9-]+ += +[0-9]+\.[0-9]{5,}' predict.log || fail 'a predict metric printed with more than 4 places'

step 'the OpenAI-compatible API   (STAND-IN: examples/tiny/base + saves/quickstart)'
API_PORT=18731 npx lmforge api --model_name_or_path examples/tiny/base --template qwen \
  --adapter_name_or_path saves/quickstart >api.log 2>&1 &
api=$!
for _ in $(seq 1 120); do
  curl -fs localhost:18731/v1/models >/dev/null 2>&1 && break
  kill -0 "$api" 2>/dev/null || {
    cat api.log >&2
    fail 'lmforge api exited'
  }
  sleep 0.5
done
curl -fs localhost:18731/v1/chat/completions -H 'content-type: application/json' \
  -d '{"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "Hi"}], "stream": true, "max_tokens": 8}' \
  >api-stream.log || fail 'the streamed chat completion failed'
kill "$api" && wait "$api" 2>/dev/null || true
expect api-stream.log '^data: \[DONE\]' 'the API streams server-sent events to the end'

step 'preference training and PPO on the tiny base   (SHORTER: max_steps=2 each)'
for stage in dpo kto reward ppo; do
  npx lmforge train "examples/train_lora/tiny_lora_$stage.yaml" max_steps=2 save_steps=2 2>"$stage.log" || {
    cat "$stage.log" >&2
    fail "examples/train_lora/tiny_lora_$stage.yaml failed"
  }
done

printf '\nREADME walk-through: every step held (%s)\n' "$WORK"
