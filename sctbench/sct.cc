#include "sctbench/sct.h"

namespace fsim::sctbench {

void CondVar::Wait(Mutex& mutex) {
  sched_.Yield("pthread_cond_wait", queue_.object_id());
  // Unlock and sleep are one step: sim::Mutex::Unlock() is no scheduling
  // point and Sleep() blocks at once, so no signal can fall between them.
  mutex.raw().Unlock();
  queue_.Sleep();
  mutex.Lock();
}

void SctProgram::Start(sim::Scheduler& sched) {
  sched_ = &sched;
  atomic_ = std::make_unique<Mutex>(sched, "esbmc_atomic");
  sched.Spawn("main", [this] { Main(); });
}

SctProgram::ThreadId SctProgram::Create(std::string_view name, std::function<void()> body) {
  sched_->Yield("pthread_create");
  ThreadId id = done_.size();
  sim::Completion* done =
      done_.emplace_back(std::make_unique<sim::Completion>(*sched_, name)).get();
  sched_->Spawn(name, [body = std::move(body), done] {
    body();
    done->CompleteAll();
  });
  return id;
}

void SctProgram::Join(ThreadId id) { done_.at(id)->Wait(); }

void SctProgram::Assert(bool condition, std::string_view what) {
  if (condition) return;
  sim::Finding finding;
  finding.kind = sim::FindingKind::kAssertion;
  finding.signature = "assertion:" + name_ + ":" + std::string(what);
  finding.report = "assertion failed in " + name_ + ": " + std::string(what) + " (thread '" +
                   sched_->current_fiber().name + "')";
  sched_->Fail(std::move(finding));
}

Mutex& SctProgram::NewMutex(std::string_view name) {
  return *mutexes_.emplace_back(std::make_unique<Mutex>(*sched_, name));
}

CondVar& SctProgram::NewCondVar(std::string_view name) {
  return *condvars_.emplace_back(std::make_unique<CondVar>(*sched_, name));
}

}  // namespace fsim::sctbench
