// BPE merge learning (the hot loop of `lmforge tokenizer train`). Words arrive as symbol sequences with their counts;
// the merge loop keeps pair counts and, for every pair, the words it occurs in, so a merge revisits only the words
// that hold the pair instead of rescanning the corpus. A max-heap with lazy deletion picks the next pair: counts of
// untouched pairs only fall, so a popped entry whose count is stale is pushed back with its true count.
// Ties go to the smaller (left, right) id pair, as in HF's Rust trainer, so both learn the same merges in order.
#include <algorithm>
#include <cstdint>
#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/napi_util.h"
#include "core/registry.h"

namespace lmf {

namespace {

using Pair = uint64_t;  // left << 32 | right
inline Pair make_pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

struct HeapEntry {
  int64_t count;
  Pair pair;
  bool operator<(const HeapEntry& o) const {  // std::priority_queue pops the largest
    if (count != o.count) return count < o.count;
    return pair > o.pair;
  }
};

struct Trainer {
  std::vector<std::vector<int32_t>> words;
  std::vector<int64_t> word_counts;
  std::unordered_map<Pair, int64_t> pair_counts;
  std::unordered_map<Pair, std::vector<int32_t>> pair_words;  // may list a word twice or after it lost the pair
  std::priority_queue<HeapEntry> heap;

  void add_word_pairs(int32_t w, int64_t sign, int32_t only_with /* -1: all pairs */) {
    const std::vector<int32_t>& s = words[w];
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      Pair p = make_pair_key(s[i], s[i + 1]);
      pair_counts[p] += sign * word_counts[w];
      if (sign > 0 && (only_with < 0 || s[i] == only_with || s[i + 1] == only_with)) pair_words[p].push_back(w);
    }
  }

  // Replaces every left-to-right occurrence of (a, b) in word w by c.
  void merge_word(int32_t w, int32_t a, int32_t b, int32_t c) {
    std::vector<int32_t>& s = words[w];
    size_t out = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
        s[out++] = c;
        ++i;
      } else {
        s[out++] = s[i];
      }
    }
    s.resize(out);
  }
};

// bpeTrain(symbols Int32Array, offsets Int32Array[nWords + 1], counts Float64Array[nWords], firstNewId, maxNewSymbols,
// minFrequency) -> { left, right, ids: Int32Array, counts: Float64Array }: merge k joins left[k] and right[k] into
// ids[k]. Symbols below firstNewId are single bytes; a merge whose bytes equal an earlier symbol's (a+bc vs ab+c)
// reuses that symbol's id, as HF's trainer does, and training stops once maxNewSymbols distinct symbols exist.
Napi::Value BpeTrain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LMF_CHECK(env, info.Length() >= 6 && info[0].IsTypedArray() && info[1].IsTypedArray() && info[2].IsTypedArray(),
            "bpeTrain(symbols, offsets, counts, firstNewId, maxMerges, minFrequency)");
  Napi::Int32Array symbols = info[0].As<Napi::Int32Array>();
  Napi::Int32Array offsets = info[1].As<Napi::Int32Array>();
  Napi::Float64Array counts = info[2].As<Napi::Float64Array>();
  const int32_t first_new = int32_t(arg_int(info, 3));
  const int64_t max_new = arg_int(info, 4);
  const int64_t min_frequency = std::max<int64_t>(1, arg_int(info, 5));
  const size_t n_words = counts.ElementLength();
  LMF_CHECK(env, offsets.ElementLength() == n_words + 1, "bpeTrain: offsets must have one entry more than counts");
  LMF_CHECK(env, size_t(offsets[n_words]) == symbols.ElementLength(), "bpeTrain: offsets do not end at symbols' end");

  Trainer t;
  t.words.resize(n_words);
  t.word_counts.resize(n_words);
  for (size_t w = 0; w < n_words; ++w) {
    t.words[w].assign(symbols.Data() + offsets[w], symbols.Data() + offsets[w + 1]);
    t.word_counts[w] = int64_t(counts[w]);
  }
  t.pair_counts.reserve(1 << 16);
  for (size_t w = 0; w < n_words; ++w) t.add_word_pairs(int32_t(w), 1, -1);
  for (auto& [p, c] : t.pair_counts) t.heap.push({c, p});

  // Each symbol's bytes (base symbol s is the byte s), to find merges that rebuild an existing symbol.
  std::vector<std::string> symbol_bytes(first_new);
  std::unordered_map<std::string, int32_t> symbol_of_bytes;
  for (int32_t s = 0; s < first_new; ++s) {
    symbol_bytes[s] = std::string(1, char(s));
    symbol_of_bytes[symbol_bytes[s]] = s;
  }
  std::vector<int32_t> out_left, out_right, out_ids;
  std::vector<double> out_counts;
  std::vector<int64_t> seen(n_words, -1);  // the merge that last visited each word: skips repeated listings
  for (int64_t k = 0; int64_t(symbol_bytes.size()) - first_new < max_new && !t.heap.empty();) {
    HeapEntry top = t.heap.top();
    t.heap.pop();
    auto it = t.pair_counts.find(top.pair);
    int64_t now = it == t.pair_counts.end() ? 0 : it->second;
    if (now != top.count) {
      if (now > 0) t.heap.push({now, top.pair});
      continue;
    }
    if (now < min_frequency) break;
    const int32_t a = int32_t(top.pair >> 32), b = int32_t(top.pair & 0xffffffffu);
    std::string merged = symbol_bytes[a] + symbol_bytes[b];
    auto known = symbol_of_bytes.find(merged);
    int32_t c;
    if (known != symbol_of_bytes.end()) {
      c = known->second;
    } else {
      c = int32_t(symbol_bytes.size());
      symbol_bytes.push_back(merged);
      symbol_of_bytes.emplace(std::move(merged), c);
    }
    std::vector<int32_t> holders = std::move(t.pair_words[top.pair]);
    t.pair_words.erase(top.pair);
    for (int32_t w : holders) {
      if (seen[w] == k) continue;
      seen[w] = k;
      t.add_word_pairs(w, -1, -1);
      t.merge_word(w, a, b, c);
      t.add_word_pairs(w, 1, c);
    }
    // Pairs that involve the new symbol are the only ones whose count grew: they enter the heap here.
    std::unordered_set<Pair> grown;
    for (int32_t w : holders) {
      const std::vector<int32_t>& s = t.words[w];
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        if (s[i] == c || s[i + 1] == c) grown.insert(make_pair_key(s[i], s[i + 1]));
      }
    }
    for (Pair p : grown) t.heap.push({t.pair_counts[p], p});
    t.pair_counts.erase(top.pair);
    out_left.push_back(a);
    out_right.push_back(b);
    out_ids.push_back(c);
    out_counts.push_back(double(now));
    ++k;
  }

  const size_t n = out_left.size();
  Napi::Int32Array left = Napi::Int32Array::New(env, n), right = Napi::Int32Array::New(env, n),
                   ids = Napi::Int32Array::New(env, n);
  Napi::Float64Array merge_counts = Napi::Float64Array::New(env, n);
  for (size_t i = 0; i < n; ++i) {
    left[i] = out_left[i];
    right[i] = out_right[i];
    ids[i] = out_ids[i];
    merge_counts[i] = out_counts[i];
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("left", left);
  result.Set("right", right);
  result.Set("ids", ids);
  result.Set("counts", merge_counts);
  return result;
}

}  // namespace

LMF_MODULE(bpe_train) { exports.Set("bpeTrain", Napi::Function::New(env, BpeTrain)); }

}  // namespace lmf
