// A worker nobody wrote, for tests against a real coordinator process: it
// registers over the WorkerService API and heart-beats on its own thread,
// and does nothing else unless the test does it (take a task, use the
// rendezvous, report).
#ifndef TOKENMETER_TESTS_INTEGRATION_SILENT_WORKER_H_
#define TOKENMETER_TESTS_INTEGRATION_SILENT_WORKER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "tokenmeter/v1/coordinator.grpc.pb.h"

namespace tokenmeter::testing {

// A registered worker that only heart-beats, on its own thread.
class SilentWorker {
 public:
  SilentWorker(std::shared_ptr<grpc::Channel> channel, v1::WorkerInventory inventory)
      : stub_(v1::WorkerService::NewStub(channel)) {
    v1::RegisterRequest request;
    *request.mutable_inventory() = std::move(inventory);
    v1::RegisterResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    status_ = stub_->Register(&context, request, &response);
    id_ = response.worker_id();
    if (!status_.ok()) return;
    beating_ = std::thread([this, interval = response.heartbeat_interval_ms()] {
      while (!stop_) {
        v1::HeartbeatRequest beat;
        beat.set_worker_id(id_);
        v1::HeartbeatResponse ignored;
        grpc::ClientContext c;
        c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
        stub_->Heartbeat(&c, beat, &ignored);
        std::this_thread::sleep_for(std::chrono::milliseconds(interval));
      }
    });
  }
  ~SilentWorker() {
    stop_ = true;
    if (beating_.joinable()) beating_.join();
  }
  const grpc::Status& status() const { return status_; }
  const std::string& id() const { return id_; }

 private:
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  grpc::Status status_;
  std::string id_;
  std::atomic<bool> stop_{false};
  std::thread beating_;
};

}  // namespace tokenmeter::testing

#endif  // TOKENMETER_TESTS_INTEGRATION_SILENT_WORKER_H_
