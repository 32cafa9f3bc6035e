#include "core/threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/napi_util.h"
#include "core/registry.h"

namespace lmf {

int physical_cores() {
  // Distinct (package, core) pairs from sysfs; hyper-threads share a core and would only contend for its FMA units.
  std::set<std::pair<int, int>> cores;
  unsigned logical = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned cpu = 0; cpu < logical; ++cpu) {
    std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::ifstream core(base + "core_id"), pkg(base + "physical_package_id");
    int c = -1, p = -1;
    if (!(core >> c) || !(pkg >> p)) return static_cast<int>(logical);
    cores.insert({p, c});
  }
  return cores.empty() ? static_cast<int>(logical) : static_cast<int>(cores.size());
}

// LMFORGE_THREADS=n sets the default pool size (a positive integer); otherwise the physical core count.
int default_threads() {
  const char* env = std::getenv("LMFORGE_THREADS");
  if (env != nullptr && *env != '\0') {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (*end == '\0' && n > 0 && n <= 4096) return static_cast<int>(n);
    std::fprintf(stderr, "lmforge: ignoring LMFORGE_THREADS=%s (expected a positive integer); using %d cores\n", env,
                 physical_cores());
  }
  return physical_cores();
}

namespace {

thread_local bool t_inside_task = false;

class Pool {
 public:
  ~Pool() { stop_workers(); }

  int size() {
    std::lock_guard<std::mutex> lock(config_mu_);
    if (size_ == 0) size_ = default_threads();
    return size_;
  }

  void resize(int n) {
    std::lock_guard<std::mutex> submit(submit_mu_);
    std::lock_guard<std::mutex> lock(config_mu_);
    stop_workers();
    size_ = n <= 0 ? default_threads() : n;
  }

  void run(const std::function<void(int, int)>& fn, int max_threads) {
    int nt = std::min(size(), std::max(1, max_threads));
    if (nt <= 1 || t_inside_task) {
      fn(0, 1);
      return;
    }
    std::lock_guard<std::mutex> submit(submit_mu_);  // one parallel region at a time (JS worker threads may race)
    ensure_workers(nt - 1);
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &fn;
      job_threads_ = nt;
      pending_ = nt - 1;
      ++generation_;
    }
    cv_.notify_all();
    t_inside_task = true;
    fn(0, nt);
    t_inside_task = false;
    // Finishing workers are usually microseconds behind: spin briefly, then sleep on the condition variable.
    for (int i = 0; i < 4000 && pending_.load(std::memory_order_acquire) > 0; ++i) std::this_thread::yield();
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return pending_.load() == 0; });
    job_ = nullptr;
  }

 private:
  void ensure_workers(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    while (static_cast<int>(workers_.size()) < n) {
      int tid = static_cast<int>(workers_.size()) + 1;
      // The worker must see the job about to be published, however late its thread starts: it begins from the
      // generation current now, before run() increments it.
      uint64_t seen = generation_.load();
      workers_.emplace_back([this, tid, seen] { worker_loop(tid, seen); });
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    stopping_ = false;
  }

  // Consecutive kernels of a step follow each other within microseconds, and waking a parked thread can take longer
  // than a small GEMM runs, leaving its chunk to the caller. So a worker watches for the next job for ~50 us before
  // it parks: bounded, unlike OpenMP's long spin, so idle workers still leave a shared machine alone.
  void spin_for_job(uint64_t seen) {
    auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
    for (int i = 0;; ++i) {
      if (generation_.load(std::memory_order_acquire) != seen) return;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return;
    }
  }

  void worker_loop(int tid, uint64_t seen) {
    for (;;) {
      const std::function<void(int, int)>* job = nullptr;
      int nt = 0;
      {
        spin_for_job(seen);
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || generation_.load() != seen; });
        if (stopping_) return;
        seen = generation_.load();
        job = job_;
        nt = job_threads_;
      }
      if (tid < nt) {
        t_inside_task = true;
        (*job)(tid, nt);
        t_inside_task = false;
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          std::lock_guard<std::mutex> lock(mu_);
          done_cv_.notify_one();
        }
      }
    }
  }

  std::mutex config_mu_, submit_mu_, mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* job_ = nullptr;
  int job_threads_ = 0;
  std::atomic<int> pending_{0};
  // Written under mu_; read without it by workers spinning between jobs.
  std::atomic<uint64_t> generation_{0};
  bool stopping_ = false;
  int size_ = 0;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: worker threads must not be joined during static destruction
  return *p;
}

}  // namespace

int num_threads() { return pool().size(); }
void set_num_threads(int n) { pool().resize(n); }

void parallel_run(const std::function<void(int, int)>& fn, int max_threads) { pool().run(fn, max_threads); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t chunks = (n + grain - 1) / grain;
  if (chunks <= 1 || num_threads() <= 1 || t_inside_task) {
    fn(0, n);
    return;
  }
  // About 4 chunks per thread balances uneven work without much scheduling overhead.
  int64_t nt = num_threads();
  int64_t chunk = std::max(grain, (n + nt * 4 - 1) / (nt * 4));
  std::atomic<int64_t> next{0};
  parallel_run(
      [&](int, int) {
        for (;;) {
          int64_t b = next.fetch_add(chunk);
          if (b >= n) break;
          fn(b, std::min(n, b + chunk));
        }
      },
      static_cast<int>(std::min<int64_t>(nt, chunks)));
}

static Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  set_num_threads(static_cast<int>(arg_int(info, 0)));
  return info.Env().Undefined();
}
static Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), num_threads()); }
static Napi::Value PhysicalCores(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), physical_cores());
}

LMF_MODULE(threadpool) {
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("physicalCores", Napi::Function::New(env, PhysicalCores));
}

}  // namespace lmf
