// How many threads the CPU backend should use right now. On a busy machine (a build, an
// ingest job), a fork/join op whose partner thread is descheduled stalls until it runs
// again, at every op: measured decode on 2 loaded cores fell from ~50 tok/s (1 thread) to
// 5 tok/s (2 threads). So before each forward the backend looks at the number of runnable
// threads (Linux /proc/loadavg), subtracts its own, and uses only the cores left free.
#pragma once

namespace lectern::cpu {

// Sets the calling thread's OpenMP team size for the next forward; returns it.
// LECTERN_THREADS=N in the environment fixes the count (no probing).
int thread_budget_apply();

}  // namespace lectern::cpu
