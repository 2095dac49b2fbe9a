#include "http/worker_context.hpp"

namespace x402::http {

namespace {
thread_local WorkerContext* t_current = nullptr;
}

WorkerContext* current_worker() {
  return t_current;
}
void set_current_worker(WorkerContext* worker) {
  t_current = worker;
}

}  // namespace x402::http
