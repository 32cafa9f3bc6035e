#include "core/storage.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/napi_util.h"
#include "core/registry.h"

namespace lmf {

static std::atomic<int64_t> g_live_bytes{0};
static std::atomic<int64_t> g_live_blocks{0};

// Large blocks are kept for reuse instead of going back to the OS: a training step allocates the same shapes every
// step, and a freshly mapped block costs a page fault per 4 KiB on first touch (measured ~3.5 us/page here, more
// than some kernels take). Blocks are reused only at their exact padded size.
class BlockCache {
 public:
  static constexpr size_t kMinCached = 64 * 1024;

  void* take(size_t padded) {
    if (padded < kMinCached) return nullptr;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.find(padded);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= padded;
    return p;
  }

  // Keeps the block unless the cache is full; returns false when the caller must free it.
  bool give(void* p, size_t padded) {
    if (padded < kMinCached) return false;
    std::lock_guard<std::mutex> lock(mu_);
    if (cached_ + padded > limit_) return false;
    free_[padded].push_back(p);
    cached_ += padded;
    return true;
  }

  void clear() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    cached_ = 0;
  }

  size_t cached() {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }

  void set_limit(size_t bytes) {
    limit_ = bytes;
    if (cached() > limit_) clear();
  }

 private:
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
  size_t limit_ = size_t(2) << 30;  // 2 GiB by default; setCacheLimit(0) disables caching
};

static BlockCache& block_cache() {
  static BlockCache* c = new BlockCache();  // leaked on purpose: finalizers may run during shutdown
  return *c;
}

static size_t padded_size(size_t bytes) {
  size_t padded = (bytes + 63) / 64 * 64;
  return padded == 0 ? 64 : padded;
}

Storage* storage_new(size_t bytes, bool zero) {
  auto* s = new Storage();
  size_t padded = padded_size(bytes);
  s->data = block_cache().take(padded);
  if (!s->data) s->data = std::aligned_alloc(64, padded);
  if (!s->data) {
    block_cache().clear();  // a full cache may be what stands between us and the allocation
    s->data = std::aligned_alloc(64, padded);
  }
  if (!s->data) {
    delete s;
    return nullptr;
  }
  if (zero) std::memset(s->data, 0, padded);
  s->bytes = bytes;
  g_live_bytes += static_cast<int64_t>(bytes);
  g_live_blocks += 1;
  return s;
}

void storage_free(Storage* s) {
  if (!s->data) return;
  if (!block_cache().give(s->data, padded_size(s->bytes))) std::free(s->data);
  s->data = nullptr;
  g_live_bytes -= static_cast<int64_t>(s->bytes);
  g_live_blocks -= 1;
}

int64_t live_bytes() { return g_live_bytes.load(); }
int64_t live_blocks() { return g_live_blocks.load(); }

// alloc(bytes: number, zero: boolean) -> External<Storage>
static Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t bytes = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  bool zero = info.Length() > 1 && info[1].ToBoolean().Value();
  Storage* s = storage_new(bytes, zero);
  LMF_CHECK(env, s != nullptr, "out of memory allocating a tensor of " + std::to_string(bytes) + " bytes");
  return Napi::External<Storage>::New(env, s, [](Napi::Env, Storage* st) {
    storage_free(st);
    delete st;
  });
}

// free(storage) -> undefined
static Napi::Value Free(const Napi::CallbackInfo& info) {
  storage_free(info[0].As<Napi::External<Storage>>().Data());
  return info.Env().Undefined();
}

// write(storage, byteOffset, source: TypedArray) copies the typed array's bytes into the block.
static Napi::Value Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Storage* s = info[0].As<Napi::External<Storage>>().Data();
  size_t offset = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  Napi::TypedArray src = info[2].As<Napi::TypedArray>();
  size_t n = src.ByteLength();
  LMF_CHECK(env, s->data != nullptr, "write into a disposed tensor");
  LMF_CHECK(env, offset + n <= s->bytes, "write past the end of a tensor's storage");
  const uint8_t* from = static_cast<const uint8_t*>(src.ArrayBuffer().Data()) + src.ByteOffset();
  std::memcpy(static_cast<uint8_t*>(s->data) + offset, from, n);
  return env.Undefined();
}

// read(storage, byteOffset, target: TypedArray) copies bytes out of the block into the typed array.
static Napi::Value Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Storage* s = info[0].As<Napi::External<Storage>>().Data();
  size_t offset = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  Napi::TypedArray dst = info[2].As<Napi::TypedArray>();
  size_t n = dst.ByteLength();
  LMF_CHECK(env, s->data != nullptr, "read from a disposed tensor");
  LMF_CHECK(env, offset + n <= s->bytes, "read past the end of a tensor's storage");
  uint8_t* to = static_cast<uint8_t*>(dst.ArrayBuffer().Data()) + dst.ByteOffset();
  std::memcpy(to, static_cast<const uint8_t*>(s->data) + offset, n);
  return env.Undefined();
}

// copy(src, srcByteOffset, dst, dstByteOffset, bytes)
static Napi::Value Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Storage* src = info[0].As<Napi::External<Storage>>().Data();
  size_t so = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  Storage* dst = info[2].As<Napi::External<Storage>>().Data();
  size_t d0 = static_cast<size_t>(info[3].As<Napi::Number>().Int64Value());
  size_t n = static_cast<size_t>(info[4].As<Napi::Number>().Int64Value());
  LMF_CHECK(env, src->data && dst->data, "copy with a disposed tensor");
  LMF_CHECK(env, so + n <= src->bytes && d0 + n <= dst->bytes, "copy past the end of a tensor's storage");
  std::memmove(static_cast<uint8_t*>(dst->data) + d0, static_cast<const uint8_t*>(src->data) + so, n);
  return env.Undefined();
}

static Napi::Value LiveBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(live_bytes()));
}
static Napi::Value LiveBlocks(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(live_blocks()));
}

// cachedBytes() -> bytes held for reuse (not live); emptyCache() returns them to the OS; setCacheLimit(bytes).
static Napi::Value CachedBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(block_cache().cached()));
}
static Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  block_cache().clear();
  return info.Env().Undefined();
}
static Napi::Value SetCacheLimit(const Napi::CallbackInfo& info) {
  block_cache().set_limit(static_cast<size_t>(arg_int(info, 0)));
  return info.Env().Undefined();
}

LMF_MODULE(storage) {
  exports.Set("cachedBytes", Napi::Function::New(env, CachedBytes));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCache));
  exports.Set("setCacheLimit", Napi::Function::New(env, SetCacheLimit));
  exports.Set("alloc", Napi::Function::New(env, Alloc));
  exports.Set("free", Napi::Function::New(env, Free));
  exports.Set("write", Napi::Function::New(env, Write));
  exports.Set("read", Napi::Function::New(env, Read));
  exports.Set("copy", Napi::Function::New(env, Copy));
  exports.Set("liveBytes", Napi::Function::New(env, LiveBytes));
  exports.Set("liveBlocks", Napi::Function::New(env, LiveBlocks));
}

}  // namespace lmf
