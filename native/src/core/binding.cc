// The addon's entry point: the only file that knows the module as a whole.
#include <napi.h>

#include "core/registry.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  lmf::init_all_modules(env, exports);
  return exports;
}

NODE_API_MODULE(lmforge, Init)
