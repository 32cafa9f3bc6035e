#include "core/registry.h"

#include <utility>
#include <vector>

namespace lmf {

static std::vector<std::pair<const char*, ModuleInit>>& modules() {
  static std::vector<std::pair<const char*, ModuleInit>> list;  // built before main by static initializers
  return list;
}

int register_module(const char* name, ModuleInit init) {
  modules().emplace_back(name, init);
  return static_cast<int>(modules().size());
}

void init_all_modules(Napi::Env env, Napi::Object exports) {
  for (auto& [name, init] : modules()) init(env, exports);
}

}  // namespace lmf
