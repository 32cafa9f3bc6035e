// Data-parallel collectives over an MPI library loaded at run time: the addon never links libmpi, so a plain
// `npm install` needs no MPI; `lmforge train` under mpirun dlopens it (src/dist/mpi.ts picks the file).
//
// Only Open MPI is supported. Its handles are addresses of exported globals, resolved with dlsym like the functions:
//   MPI_COMM_WORLD = &ompi_mpi_comm_world, MPI_FLOAT = &ompi_mpi_float, MPI_DOUBLE = &ompi_mpi_double,
//   MPI_INT = &ompi_mpi_int, MPI_BYTE = &ompi_mpi_byte, MPI_SUM = &ompi_mpi_op_sum; MPI_STATUS_IGNORE = NULL.
// MPICH (and its derivatives) use integer handles from mpi.h instead; without ompi_mpi_comm_world we refuse it.
// Open MPI's components dlopen their own plugins that need libmpi's symbols: the library is opened RTLD_GLOBAL.
//
// Every collective is non-blocking (MPI_I*) and polled against a deadline (ddp_timeout): a rank that died or hangs
// ends the wait with a report instead of a job that waits forever. The caller (src/dist) turns the report into a
// message naming the rank and aborts the job.
#include <dlfcn.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/napi_util.h"
#include "core/registry.h"

namespace lmf {
namespace {

using Handle = void*;  // MPI_Comm, MPI_Datatype, MPI_Op, MPI_Request: pointers in Open MPI

struct Mpi {
  void* lib = nullptr;
  int (*Init_thread)(int*, char***, int, int*) = nullptr;
  int (*Initialized)(int*) = nullptr;
  int (*Finalized)(int*) = nullptr;
  int (*Finalize)() = nullptr;
  int (*Comm_rank)(Handle, int*) = nullptr;
  int (*Comm_size)(Handle, int*) = nullptr;
  int (*Iallreduce)(const void*, void*, int, Handle, Handle, Handle, Handle*) = nullptr;
  int (*Ibcast)(void*, int, Handle, int, Handle, Handle*) = nullptr;
  int (*Iallgatherv)(const void*, int, Handle, void*, const int*, const int*, Handle, Handle, Handle*) = nullptr;
  int (*Igatherv)(const void*, int, Handle, void*, const int*, const int*, Handle, int, Handle, Handle*) = nullptr;
  int (*Isend)(const void*, int, Handle, int, int, Handle, Handle*) = nullptr;
  int (*Irecv)(void*, int, Handle, int, int, Handle, Handle*) = nullptr;
  int (*Test)(Handle*, int*, void*) = nullptr;
  int (*Cancel)(Handle*) = nullptr;
  int (*Abort)(Handle, int) = nullptr;
  int (*Get_library_version)(char*, int*) = nullptr;
  Handle comm_world = nullptr, f32 = nullptr, f64 = nullptr, i32 = nullptr, byte = nullptr, op_sum = nullptr;
  int rank = 0, size = 1;
  bool initialized = false;
};

Mpi g;
constexpr int kArriveTag = 7701, kReleaseTag = 7702;
constexpr int kMaxChunk = 1 << 28;  // elements per MPI call (counts are int)

template <typename F>
bool sym(void* lib, const char* name, F& out) {
  out = reinterpret_cast<F>(dlsym(lib, name));
  return out != nullptr;
}

// Polls requests until all complete or the deadline passes; returns false on timeout. Spins briefly, then sleeps
// in short naps so a waiting rank leaves the core to the ranks still computing (2-core machines run 2 ranks).
bool wait_all(std::vector<Handle>& reqs, double timeout_s, std::vector<int>* done_out = nullptr) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration<double>(timeout_s);
  std::vector<int> done(reqs.size(), 0);
  size_t remaining = reqs.size();
  int polls = 0;
  while (remaining > 0) {
    for (size_t i = 0; i < reqs.size(); ++i) {
      if (done[i]) continue;
      int flag = 0;
      g.Test(&reqs[i], &flag, nullptr);
      if (flag) {
        done[i] = 1;
        --remaining;
      }
    }
    if (remaining == 0) break;
    if (clock::now() > deadline) {
      if (done_out) *done_out = done;
      return false;
    }
    if (++polls > 200) std::this_thread::sleep_for(std::chrono::microseconds(polls > 2000 ? 500 : 50));
  }
  if (done_out) *done_out = done;
  return true;
}

Napi::Value timeout_report(Napi::Env env, const std::string& what) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("timedOut", true);
  r.Set("what", what);
  return r;
}

// mpiLoad(path) -> null on success, else the reason (dlerror or the missing symbol).
Napi::Value Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g.lib) return env.Null();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!lib) return Napi::String::New(env, dlerror());
  if (!dlsym(lib, "ompi_mpi_comm_world")) {
    dlclose(lib);
    return Napi::String::New(env, "not-open-mpi");
  }
  Mpi m;
  m.lib = lib;
  const char* missing = nullptr;
#define LMF_SYM(field, name) \
  if (!missing && !sym(lib, name, m.field)) missing = name;
  LMF_SYM(Init_thread, "MPI_Init_thread")
  LMF_SYM(Initialized, "MPI_Initialized")
  LMF_SYM(Finalized, "MPI_Finalized")
  LMF_SYM(Finalize, "MPI_Finalize")
  LMF_SYM(Comm_rank, "MPI_Comm_rank")
  LMF_SYM(Comm_size, "MPI_Comm_size")
  LMF_SYM(Iallreduce, "MPI_Iallreduce")
  LMF_SYM(Ibcast, "MPI_Ibcast")
  LMF_SYM(Iallgatherv, "MPI_Iallgatherv")
  LMF_SYM(Igatherv, "MPI_Igatherv")
  LMF_SYM(Isend, "MPI_Isend")
  LMF_SYM(Irecv, "MPI_Irecv")
  LMF_SYM(Test, "MPI_Test")
  LMF_SYM(Cancel, "MPI_Cancel")
  LMF_SYM(Abort, "MPI_Abort")
  LMF_SYM(Get_library_version, "MPI_Get_library_version")
#undef LMF_SYM
  m.comm_world = dlsym(lib, "ompi_mpi_comm_world");
  m.f32 = dlsym(lib, "ompi_mpi_float");
  m.f64 = dlsym(lib, "ompi_mpi_double");
  m.i32 = dlsym(lib, "ompi_mpi_int");
  m.byte = dlsym(lib, "ompi_mpi_byte");
  m.op_sum = dlsym(lib, "ompi_mpi_op_sum");
  if (!missing && !(m.f32 && m.f64 && m.i32 && m.byte && m.op_sum)) missing = "ompi_mpi_float/double/int/byte/op_sum";
  if (missing) {
    dlclose(lib);
    return Napi::String::New(env, std::string("missing symbol ") + missing);
  }
  g = m;
  return env.Null();
}

// mpiInit() -> { rank, size, version }: MPI_Init_thread with MPI_THREAD_FUNNELED (1 in Open MPI): only the main
// thread calls MPI; the engine's pool threads never do.
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LMF_CHECK(env, g.lib, "mpiInit: the MPI library is not loaded");
  if (!g.initialized) {
    int already = 0;
    g.Initialized(&already);
    int provided = 0;
    if (!already) LMF_CHECK(env, g.Init_thread(nullptr, nullptr, 1, &provided) == 0, "MPI_Init_thread failed");
    g.Comm_rank(g.comm_world, &g.rank);
    g.Comm_size(g.comm_world, &g.size);
    g.initialized = true;
  }
  char version[8192];
  int len = 0;
  g.Get_library_version(version, &len);
  Napi::Object r = Napi::Object::New(env);
  r.Set("rank", g.rank);
  r.Set("size", g.size);
  r.Set("version", std::string(version, static_cast<size_t>(len > 0 ? len : 0)));
  return r;
}

// Sums `n` values of `type` in place over all ranks, in chunks MPI's int counts can hold.
bool allreduce_in_place(void* data, int64_t n, size_t elem, Handle type, double timeout_s) {
  std::vector<Handle> reqs;
  char* p = static_cast<char*>(data);
  // MPI_IN_PLACE is ((void*)1) in Open MPI.
  for (int64_t off = 0; off < n; off += kMaxChunk) {
    Handle req = nullptr;
    int count = static_cast<int>(std::min<int64_t>(kMaxChunk, n - off));
    g.Iallreduce(reinterpret_cast<void*>(1), p + off * elem, count, type, g.op_sum, g.comm_world, &req);
    reqs.push_back(req);
  }
  return wait_all(reqs, timeout_s);
}

// mpiAllreduceStorages(storages[], counts[], average, bucketBytes, timeoutS) -> null | { timedOut, what }
// f32 tensors (counts[i] values each) are packed into buckets of about bucketBytes, summed over ranks with one
// allreduce per bucket, divided by the world size when `average`, and unpacked in place. A tensor larger than the
// bucket is reduced in place on its own.
Napi::Value AllreduceStorages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LMF_CHECK(env, g.initialized, "mpiAllreduceStorages: MPI is not initialized");
  Napi::Array storages = info[0].As<Napi::Array>();
  Napi::Array counts = info[1].As<Napi::Array>();
  const bool average = arg_bool(info, 2);
  const int64_t bucket_values = std::max<int64_t>(1, arg_int(info, 3) / 4);
  const double timeout_s = arg_double(info, 4);
  const uint32_t k = storages.Length();
  std::vector<float*> ptrs(k);
  std::vector<int64_t> ns(k);
  for (uint32_t i = 0; i < k; ++i) {
    ptrs[i] = static_cast<float*>(storages.Get(i).As<Napi::External<Storage>>().Data()->data);
    ns[i] = counts.Get(i).As<Napi::Number>().Int64Value();
  }
  const float inv = 1.0f / static_cast<float>(g.size);
  std::vector<float> bucket;
  uint32_t i = 0;
  while (i < k) {
    if (ns[i] >= bucket_values) {
      if (!allreduce_in_place(ptrs[i], ns[i], 4, g.f32, timeout_s)) return timeout_report(env, "gradient allreduce");
      if (average)
        for (int64_t j = 0; j < ns[i]; ++j) ptrs[i][j] *= inv;
      ++i;
      continue;
    }
    uint32_t end = i;
    int64_t total = 0;
    while (end < k && ns[end] < bucket_values && total + ns[end] <= bucket_values) total += ns[end++];
    bucket.resize(static_cast<size_t>(total));
    int64_t off = 0;
    for (uint32_t t = i; t < end; ++t, off += ns[t - 1]) std::memcpy(bucket.data() + off, ptrs[t], ns[t] * 4);
    if (!allreduce_in_place(bucket.data(), total, 4, g.f32, timeout_s)) return timeout_report(env, "gradient allreduce");
    off = 0;
    for (uint32_t t = i; t < end; ++t) {
      if (average)
        for (int64_t j = 0; j < ns[t]; ++j) ptrs[t][j] = bucket[off + j] * inv;
      else
        std::memcpy(ptrs[t], bucket.data() + off, ns[t] * 4);
      off += ns[t];
    }
    i = end;
  }
  return env.Null();
}

// Buckets in flight for the allreduce overlapped with the backward (src/dist/overlap.ts). The main thread starts
// each bucket (a packed copy of its gradients, MPI_Iallreduce) as soon as the backward has finished them, drives
// MPI's progress with MPI_Test between backward ops, and waits for all of them after the backward. Every call is
// on the main thread, so MPI_THREAD_FUNNELED is enough; Open MPI's TCP transport progresses a non-blocking
// collective only inside MPI calls, which the polls provide.
struct Bucket {
  std::vector<float> data;
  std::vector<float*> ptrs;
  std::vector<int64_t> counts;
  std::vector<Handle> reqs;
  std::vector<int> done;
};
std::vector<Bucket> g_buckets;

// mpiBucketStart(storages[], counts[]): packs the gradients and starts their sum over the ranks.
Napi::Value BucketStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LMF_CHECK(env, g.initialized, "mpiBucketStart: MPI is not initialized");
  Napi::Array storages = info[0].As<Napi::Array>();
  Napi::Array counts = info[1].As<Napi::Array>();
  Bucket b;
  int64_t total = 0;
  for (uint32_t i = 0; i < storages.Length(); ++i) {
    b.ptrs.push_back(static_cast<float*>(storages.Get(i).As<Napi::External<Storage>>().Data()->data));
    b.counts.push_back(counts.Get(i).As<Napi::Number>().Int64Value());
    total += b.counts.back();
  }
  b.data.resize(static_cast<size_t>(total));
  int64_t off = 0;
  for (size_t i = 0; i < b.ptrs.size(); off += b.counts[i], ++i)
    std::memcpy(b.data.data() + off, b.ptrs[i], b.counts[i] * 4);
  for (off = 0; off < total; off += kMaxChunk) {
    Handle req = nullptr;
    int count = static_cast<int>(std::min<int64_t>(kMaxChunk, total - off));
    g.Iallreduce(reinterpret_cast<void*>(1), b.data.data() + off, count, g.f32, g.op_sum, g.comm_world, &req);
    b.reqs.push_back(req);
  }
  b.done.assign(b.reqs.size(), 0);
  g_buckets.push_back(std::move(b));
  return env.Undefined();
}

// mpiBucketsProgress(): one MPI_Test on each unfinished request (lets MPI move the buckets' messages along).
Napi::Value BucketsProgress(const Napi::CallbackInfo& info) {
  for (Bucket& b : g_buckets)
    for (size_t i = 0; i < b.reqs.size(); ++i) {
      if (b.done[i]) continue;
      int flag = 0;
      g.Test(&b.reqs[i], &flag, nullptr);
      b.done[i] = flag;
    }
  return info.Env().Undefined();
}

// mpiBucketsFinish(apply, timeoutS) -> null | report: waits for every bucket; with `apply`, copies the sums back
// into the gradients. The buckets are dropped either way.
Napi::Value BucketsFinish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool apply = arg_bool(info, 0);
  const double timeout_s = arg_double(info, 1);
  std::vector<Handle> reqs;
  for (Bucket& b : g_buckets)
    for (size_t i = 0; i < b.reqs.size(); ++i)
      if (!b.done[i]) reqs.push_back(b.reqs[i]);
  const bool ok = wait_all(reqs, timeout_s);
  if (ok && apply)
    for (Bucket& b : g_buckets) {
      int64_t off = 0;
      for (size_t i = 0; i < b.ptrs.size(); off += b.counts[i], ++i)
        std::memcpy(b.ptrs[i], b.data.data() + off, b.counts[i] * 4);
    }
  if (!ok) return timeout_report(env, "gradient allreduce");
  g_buckets.clear();
  return env.Null();
}

// mpiAllreduceF64(Float64Array, timeoutS) -> null | report: sums small host values (losses, counts) in place.
Napi::Value AllreduceF64(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LMF_CHECK(env, g.initialized, "mpiAllreduceF64: MPI is not initialized");
  Napi::Float64Array a = info[0].As<Napi::Float64Array>();
  if (!allreduce_in_place(a.Data(), static_cast<int64_t>(a.ElementLength()), 8, g.f64, arg_double(info, 1)))
    return timeout_report(env, "value allreduce");
  return env.Null();
}

// mpiBroadcastBytes(Uint8Array | storage, bytes, root, timeoutS) -> null | report: root's bytes to every rank.
Napi::Value BroadcastBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LMF_CHECK(env, g.initialized, "mpiBroadcastBytes: MPI is not initialized");
  char* data = info[0].IsTypedArray()
                   ? reinterpret_cast<char*>(info[0].As<Napi::Uint8Array>().Data())
                   : static_cast<char*>(info[0].As<Napi::External<Storage>>().Data()->data);
  const int64_t bytes = arg_int(info, 1);
  const int root = static_cast<int>(arg_int(info, 2));
  std::vector<Handle> reqs;
  for (int64_t off = 0; off < bytes; off += kMaxChunk) {
    Handle req = nullptr;
    g.Ibcast(data + off, static_cast<int>(std::min<int64_t>(kMaxChunk, bytes - off)), g.byte, root, g.comm_world, &req);
    reqs.push_back(req);
  }
  if (!wait_all(reqs, arg_double(info, 3))) return timeout_report(env, "broadcast");
  return env.Null();
}

// mpiGatherStorages(storages[], counts[], owners[], root, timeoutS) -> null | report
// ZeRO-1's exchange of partitions: tensor i (counts[i] f32 values) belongs to rank owners[i]. Each rank packs the
// tensors it owns (in list order) and the packed blocks are gathered, rank by rank, with MPI_Iallgatherv (root -1:
// every rank gets every tensor) or MPI_Igatherv (root r: rank r alone does); the receiver unpacks the blocks into
// the tensors it does not own. A storage a rank does not receive into may be null there.
Napi::Value GatherStorages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LMF_CHECK(env, g.initialized, "mpiGatherStorages: MPI is not initialized");
  Napi::Array storages = info[0].As<Napi::Array>();
  Napi::Array counts = info[1].As<Napi::Array>();
  Napi::Array owners = info[2].As<Napi::Array>();
  const int root = static_cast<int>(arg_int(info, 3));
  const double timeout_s = arg_double(info, 4);
  const uint32_t k = storages.Length();
  std::vector<float*> ptrs(k, nullptr);
  std::vector<int64_t> ns(k);
  std::vector<int> own(k);
  std::vector<int64_t> per_rank(g.size, 0);
  for (uint32_t i = 0; i < k; ++i) {
    Napi::Value s = storages.Get(i);
    if (!s.IsNull() && !s.IsUndefined()) ptrs[i] = static_cast<float*>(s.As<Napi::External<Storage>>().Data()->data);
    ns[i] = counts.Get(i).As<Napi::Number>().Int64Value();
    own[i] = static_cast<int>(owners.Get(i).As<Napi::Number>().Int32Value());
    LMF_CHECK(env, own[i] >= 0 && own[i] < g.size, "mpiGatherStorages: an owner is not a rank of the job");
    per_rank[own[i]] += ns[i];
  }
  std::vector<int> rcounts(g.size), displs(g.size);
  int64_t total = 0;
  for (int r = 0; r < g.size; ++r) {
    rcounts[r] = static_cast<int>(per_rank[r]);
    displs[r] = static_cast<int>(total);
    total += per_rank[r];
  }
  LMF_CHECK(env, total < (1LL << 31), "mpiGatherStorages: the tensors exceed MPI's int displacements");
  const bool receives = root < 0 || root == g.rank;
  std::vector<float> send(static_cast<size_t>(per_rank[g.rank]));
  std::vector<float> recv(receives ? static_cast<size_t>(total) : 0);
  int64_t off = 0;
  for (uint32_t i = 0; i < k; ++i)
    if (own[i] == g.rank) {
      LMF_CHECK(env, ptrs[i] != nullptr, "mpiGatherStorages: a rank's own tensor is missing");
      std::memcpy(send.data() + off, ptrs[i], ns[i] * 4);
      off += ns[i];
    }
  Handle req = nullptr;
  if (root < 0)
    g.Iallgatherv(send.data(), rcounts[g.rank], g.f32, recv.data(), rcounts.data(), displs.data(), g.f32, g.comm_world,
                  &req);
  else
    g.Igatherv(send.data(), rcounts[g.rank], g.f32, recv.data(), rcounts.data(), displs.data(), g.f32, root,
               g.comm_world, &req);
  std::vector<Handle> reqs{req};
  if (!wait_all(reqs, timeout_s)) return timeout_report(env, "partition gather");
  if (!receives) return env.Null();
  std::vector<int64_t> cursor(displs.begin(), displs.end());
  for (uint32_t i = 0; i < k; ++i) {
    float* src = recv.data() + cursor[own[i]];
    cursor[own[i]] += ns[i];
    if (own[i] != g.rank && ptrs[i]) std::memcpy(ptrs[i], src, ns[i] * 4);
  }
  return env.Null();
}

// mpiBarrier(sequence, timeoutS) -> null | { timedOut, what, missing: ranks[] }
// A barrier that can say who is missing: every rank reports its arrival (with the barrier's sequence number) to
// rank 0, which releases them all once everyone is in. On timeout rank 0 names the ranks that never arrived; the
// others can only name rank 0. A sequence mismatch (ranks at different steps) is reported as well.
Napi::Value Barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LMF_CHECK(env, g.initialized, "mpiBarrier: MPI is not initialized");
  int seq = static_cast<int>(arg_int(info, 0));
  const double timeout_s = arg_double(info, 1);
  if (g.size == 1) return env.Null();
  if (g.rank == 0) {
    std::vector<int> seen(g.size, 0);
    std::vector<Handle> reqs(g.size - 1);
    for (int r = 1; r < g.size; ++r) g.Irecv(&seen[r], 1, g.i32, r, kArriveTag, g.comm_world, &reqs[r - 1]);
    std::vector<int> done;
    if (!wait_all(reqs, timeout_s, &done)) {
      Napi::Object rep = timeout_report(env, "barrier").As<Napi::Object>();
      Napi::Array missing = Napi::Array::New(env);
      for (int r = 1; r < g.size; ++r)
        if (!done[r - 1]) missing.Set(missing.Length(), r);
      rep.Set("missing", missing);
      return rep;
    }
    for (int r = 1; r < g.size; ++r)
      if (seen[r] != seq) {
        Napi::Object rep = Napi::Object::New(env);
        rep.Set("outOfStep", r);
        rep.Set("theirs", seen[r]);
        return rep;
      }
    std::vector<Handle> sends(g.size - 1);
    for (int r = 1; r < g.size; ++r) g.Isend(&seq, 1, g.i32, r, kReleaseTag, g.comm_world, &sends[r - 1]);
    if (!wait_all(sends, timeout_s)) return timeout_report(env, "barrier release");
    return env.Null();
  }
  Handle send = nullptr, recv = nullptr;
  int released = 0;
  g.Isend(&seq, 1, g.i32, 0, kArriveTag, g.comm_world, &send);
  g.Irecv(&released, 1, g.i32, 0, kReleaseTag, g.comm_world, &recv);
  std::vector<Handle> reqs{send, recv};
  if (!wait_all(reqs, timeout_s)) {
    Napi::Object rep = timeout_report(env, "barrier").As<Napi::Object>();
    Napi::Array missing = Napi::Array::New(env);
    missing.Set(0u, 0);
    rep.Set("missing", missing);
    return rep;
  }
  return env.Null();
}

// mpiAbort(code): ends every rank of the job (mpirun kills the others); does not return.
Napi::Value Abort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LMF_CHECK(env, g.initialized, "mpiAbort: MPI is not initialized");
  g.Abort(g.comm_world, static_cast<int>(arg_int(info, 0)));
  return env.Undefined();
}

Napi::Value Finalize(const Napi::CallbackInfo& info) {
  if (g.initialized) {
    int finalized = 0;
    g.Finalized(&finalized);
    if (!finalized) g.Finalize();
  }
  return info.Env().Undefined();
}

}  // namespace

LMF_MODULE(mpi) {
  exports.Set("mpiLoad", Napi::Function::New(env, Load));
  exports.Set("mpiInit", Napi::Function::New(env, Init));
  exports.Set("mpiAllreduceStorages", Napi::Function::New(env, AllreduceStorages));
  exports.Set("mpiAllreduceF64", Napi::Function::New(env, AllreduceF64));
  exports.Set("mpiBroadcastBytes", Napi::Function::New(env, BroadcastBytes));
  exports.Set("mpiGatherStorages", Napi::Function::New(env, GatherStorages));
  exports.Set("mpiBucketStart", Napi::Function::New(env, BucketStart));
  exports.Set("mpiBucketsProgress", Napi::Function::New(env, BucketsProgress));
  exports.Set("mpiBucketsFinish", Napi::Function::New(env, BucketsFinish));
  exports.Set("mpiBarrier", Napi::Function::New(env, Barrier));
  exports.Set("mpiAbort", Napi::Function::New(env, Abort));
  exports.Set("mpiFinalize", Napi::Function::New(env, Finalize));
}

}  // namespace lmf
