// A fixed pool of worker threads that park on a condition variable when idle (spinning threads cost up to 2.5x on
// shared 2-core machines). The calling thread takes part as worker 0. Nested calls from inside a task run serially.
#pragma once
#include <cstdint>
#include <functional>

namespace lmf {

int physical_cores();
int default_threads();  // LMFORGE_THREADS when set to a positive integer, else physical_cores()
int num_threads();
void set_num_threads(int n);  // n <= 0 restores the default (default_threads())

// Calls fn(tid, nthreads) once on each of nthreads threads (nthreads = min(num_threads(), max_threads)).
void parallel_run(const std::function<void(int tid, int nthreads)>& fn, int max_threads = 1 << 30);

// Splits [0, n) into chunks of at least `grain` items handed out dynamically; fn(begin, end) per chunk.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

}  // namespace lmf
