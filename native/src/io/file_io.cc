// Byte-range file I/O straight between a file descriptor and a native Storage, so checkpoint tensors move between
// disk and tensor memory without a JavaScript-side copy (a 7B checkpoint never sits in JS memory).
//   preadStorage(fd, fileOffset, storage, storageOffset, bytes)  -> bytes read (== bytes), throws on EOF / error
//   pwriteStorage(fd, fileOffset, storage, storageOffset, bytes) -> bytes written (== bytes), throws on error
// Offsets and sizes are JS numbers (exact up to 2^53). Loops over short reads/writes and EINTR: Linux moves at
// most ~2 GiB per call.
#include <errno.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "core/napi_util.h"
#include "core/registry.h"

namespace lmf {

static bool range_ok(const Storage* s, int64_t offset, int64_t bytes) {
  return offset >= 0 && bytes >= 0 && static_cast<uint64_t>(offset) + static_cast<uint64_t>(bytes) <= s->bytes;
}

static Napi::Value PreadStorage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = static_cast<int>(arg_int(info, 0));
  int64_t file_offset = arg_int(info, 1);
  Storage* s = arg_storage(info, 2);
  int64_t offset = arg_int(info, 3);
  int64_t bytes = arg_int(info, 4);
  LMF_CHECK(env, s->data != nullptr, "preadStorage into a disposed tensor");
  LMF_CHECK(env, file_offset >= 0, "preadStorage: negative file offset");
  LMF_CHECK(env, range_ok(s, offset, bytes), "preadStorage: range past the end of the tensor's storage");
  auto* dst = static_cast<uint8_t*>(s->data) + offset;
  int64_t done = 0;
  while (done < bytes) {
    ssize_t r = ::pread(fd, dst + done, static_cast<size_t>(bytes - done), static_cast<off_t>(file_offset + done));
    if (r < 0 && errno == EINTR) continue;
    LMF_CHECK(env, r >= 0, std::string("read failed: ") + std::strerror(errno));
    LMF_CHECK(env, r > 0,
              "unexpected end of file at byte " + std::to_string(file_offset + done) + " (wanted " +
                  std::to_string(bytes) + " bytes from byte " + std::to_string(file_offset) + "): the file is truncated");
    done += r;
  }
  return Napi::Number::New(env, static_cast<double>(done));
}

static Napi::Value PwriteStorage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = static_cast<int>(arg_int(info, 0));
  int64_t file_offset = arg_int(info, 1);
  Storage* s = arg_storage(info, 2);
  int64_t offset = arg_int(info, 3);
  int64_t bytes = arg_int(info, 4);
  LMF_CHECK(env, s->data != nullptr, "pwriteStorage from a disposed tensor");
  LMF_CHECK(env, file_offset >= 0, "pwriteStorage: negative file offset");
  LMF_CHECK(env, range_ok(s, offset, bytes), "pwriteStorage: range past the end of the tensor's storage");
  const auto* src = static_cast<const uint8_t*>(s->data) + offset;
  int64_t done = 0;
  while (done < bytes) {
    ssize_t w = ::pwrite(fd, src + done, static_cast<size_t>(bytes - done), static_cast<off_t>(file_offset + done));
    if (w < 0 && errno == EINTR) continue;
    LMF_CHECK(env, w > 0, std::string("write failed: ") + (w < 0 ? std::strerror(errno) : "no progress"));
    done += w;
  }
  return Napi::Number::New(env, static_cast<double>(done));
}

LMF_MODULE(file_io) {
  exports.Set("preadStorage", Napi::Function::New(env, PreadStorage));
  exports.Set("pwriteStorage", Napi::Function::New(env, PwriteStorage));
}

}  // namespace lmf
