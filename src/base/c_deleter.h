// One deleter for every C handle: std::unique_ptr<T, CDeleter<free_fn>>.
#pragma once

#include <memory>

namespace vc {

template <auto Fn>
struct CDeleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    if (p) Fn(p);
  }
};

template <typename T, auto Fn>
using CPtr = std::unique_ptr<T, CDeleter<Fn>>;

}  // namespace vc
