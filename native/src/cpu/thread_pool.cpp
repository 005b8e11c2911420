#include "thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace pl::cpu {
namespace {

struct Job {
    int64_t n, chunk;
    const std::function<void(int64_t, int64_t)> *body;
    std::atomic<int64_t> next{0};
    int helpers_allowed;  // workers that may join besides the caller
    int helpers_joined = 0;
    int helpers_running = 0;

    void work() {
        for (;;) {
            int64_t begin = next.fetch_add(chunk, std::memory_order_relaxed);
            if (begin >= n) return;
            (*body)(begin, std::min(n, begin + chunk));
        }
    }
};

class Pool {
  public:
    explicit Pool(int workers) : workers_(workers) {
        for (int i = 0; i < workers; ++i) std::thread([this] { loop(); }).detach();
    }
    int workers() const { return workers_; }

    void run(Job &job) {
        if (job.helpers_allowed > 0) {
            std::lock_guard<std::mutex> lock(mu_);
            queue_.push_back(&job);
        }
        work_cv_.notify_all();
        job.work();
        std::unique_lock<std::mutex> lock(mu_);
        auto it = std::find(queue_.begin(), queue_.end(), &job);
        if (it != queue_.end()) queue_.erase(it);
        done_cv_.wait(lock, [&] { return job.helpers_running == 0; });
    }

  private:
    void loop() {
        std::unique_lock<std::mutex> lock(mu_);
        for (;;) {
            work_cv_.wait(lock, [&] { return !queue_.empty(); });
            Job *job = queue_.front();
            if (++job->helpers_joined >= job->helpers_allowed || job->next.load() >= job->n) queue_.pop_front();
            ++job->helpers_running;
            lock.unlock();
            job->work();
            lock.lock();
            if (--job->helpers_running == 0) done_cv_.notify_all();
        }
    }

    int workers_;
    std::mutex mu_;
    std::condition_variable work_cv_, done_cv_;
    std::deque<Job *> queue_;
};

// Never destroyed: detached workers may still be waiting on its mutex while the process exits.
Pool &pool() {
    static Pool *p = new Pool(std::max(1u, std::thread::hardware_concurrency()) - 1);
    return *p;
}

}  // namespace

int pool_threads() { return pool().workers() + 1; }

void parallel_for(int64_t n, int64_t chunk, int max_threads, const std::function<void(int64_t, int64_t)> &body) {
    if (n <= 0) return;
    chunk = std::max<int64_t>(1, chunk);
    int64_t chunks = (n + chunk - 1) / chunk;
    int threads = max_threads > 0 ? std::min(max_threads, pool_threads()) : pool_threads();
    Job job;
    job.n = n;
    job.chunk = chunk;
    job.body = &body;
    job.helpers_allowed = (int)std::min<int64_t>(threads - 1, chunks - 1);
    if (job.helpers_allowed <= 0) {
        job.work();
        return;
    }
    pool().run(job);
}

}  // namespace pl::cpu
