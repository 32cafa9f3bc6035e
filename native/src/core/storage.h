// Native tensor storage: 64-byte aligned blocks owned explicitly from JavaScript (alloc/free) with the GC's
// finalizer as a safety net, and a live-bytes counter so tests can prove that nothing leaks.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace lmf {

struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
};

Storage* storage_new(size_t bytes, bool zero);
void storage_free(Storage* s);  // idempotent: frees the block, keeps the (empty) record for the finalizer
int64_t live_bytes();
int64_t live_blocks();

}  // namespace lmf
