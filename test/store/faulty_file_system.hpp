#pragma once
/// A RocksDB file system for tests that can (1) fail every write with ENOSPC, as a full disk
/// does, until told otherwise, and (2) hold the next WAL sync at a gate, so a test can queue work
/// behind a synced write that is known to be in flight.

#include <rocksdb/file_system.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

namespace sluice::test {

class faulty_file_system : public rocksdb::FileSystemWrapper {
 public:
  faulty_file_system() : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()) {}

  const char* Name() const override { return "sluice-faulty-fs"; }

  /// While true every write (append, flush, sync) fails with "No space left on device".
  std::atomic<bool> full{false};
  std::atomic<uint64_t> refused_writes{0};

  /// The next WAL sync blocks until release_gate().
  void arm_gate() {
    std::lock_guard guard{mutex_};
    armed_ = true;
    held_ = false;
    open_ = false;
  }

  void release_gate() {
    std::lock_guard guard{mutex_};
    open_ = true;
    changed_.notify_all();
  }

  /// Waits until a WAL sync is held at the gate; false after `bound`.
  bool wait_until_held(std::chrono::milliseconds bound = std::chrono::seconds(10)) {
    std::unique_lock lock{mutex_};
    return changed_.wait_for(lock, bound, [this] { return held_; });
  }

  /// Called by the files on each sync of a WAL.
  void at_wal_sync() {
    std::unique_lock lock{mutex_};
    if (!armed_) {
      return;
    }
    armed_ = false;
    held_ = true;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
  }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    auto status = target()->NewWritableFile(name, options, result, dbg);
    wrap(name, status, result);
    return status;
  }

  rocksdb::IOStatus ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override {
    auto status = target()->ReopenWritableFile(name, options, result, dbg);
    wrap(name, status, result);
    return status;
  }

  rocksdb::IOStatus ReuseWritableFile(const std::string& name, const std::string& old_name,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override {
    auto status = target()->ReuseWritableFile(name, old_name, options, result, dbg);
    wrap(name, status, result);
    return status;
  }

 private:
  class file : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    file(std::unique_ptr<rocksdb::FSWritableFile> target, faulty_file_system* fs, bool wal)
        : rocksdb::FSWritableFileOwnerWrapper(std::move(target)), fs_(fs), wal_(wal) {}

    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
      if (fs_->refuse()) {
        return no_space();
      }
      return FSWritableFileOwnerWrapper::Append(data, options, dbg);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* dbg) override {
      if (fs_->refuse()) {
        return no_space();
      }
      return FSWritableFileOwnerWrapper::Append(data, options, info, dbg);
    }
    rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override {
      if (fs_->refuse()) {
        return no_space();
      }
      return FSWritableFileOwnerWrapper::PositionedAppend(data, offset, options, dbg);
    }
    rocksdb::IOStatus Flush(const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
      if (fs_->refuse()) {
        return no_space();
      }
      return FSWritableFileOwnerWrapper::Flush(options, dbg);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
      if (wal_) {
        fs_->at_wal_sync();
      }
      if (fs_->refuse()) {
        return no_space();
      }
      return FSWritableFileOwnerWrapper::Sync(options, dbg);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
      if (wal_) {
        fs_->at_wal_sync();
      }
      if (fs_->refuse()) {
        return no_space();
      }
      return FSWritableFileOwnerWrapper::Fsync(options, dbg);
    }

   private:
    static rocksdb::IOStatus no_space() {
      return rocksdb::IOStatus::NoSpace("injected by the test: No space left on device");
    }
    faulty_file_system* fs_;
    bool wal_;
  };

  bool refuse() {
    if (!full) {
      return false;
    }
    ++refused_writes;
    return true;
  }

  void wrap(const std::string& name, const rocksdb::IOStatus& status,
            std::unique_ptr<rocksdb::FSWritableFile>* result) {
    if (!status.ok() || !*result) {
      return;
    }
    const bool wal = name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0;
    *result = std::make_unique<file>(std::move(*result), this, wal);
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  bool armed_ = false;
  bool held_ = false;
  bool open_ = false;
};

}  // namespace sluice::test
