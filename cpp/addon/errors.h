// The addon's one error mapping. Every surface throws through it, so a JS caller can rely on:
//   TypeError   code ASDKIT_ARG_TYPE   an argument of the wrong type
//   RangeError  code ASDKIT_ARG_VALUE  an argument of the right type with an unusable value; also
//                                      the core's std::invalid_argument / out_of_range / domain_error
//   Error       code ASDKIT_CORE       any other failure inside the core or LibTorch (I/O, decoding, …)
//               code ASDKIT_BUSY       the object is running another job
//               code ASDKIT_DISPOSED   the object has been disposed
//               code ASDKIT_STATE      a call out of order (e.g. AE training before prepareVectors)
//   AbortError  code ABORT_ERR         a cancelled job (Node's name and code)
#pragma once

#include <napi.h>

#include <exception>
#include <string>
#include <utility>

namespace asd::addon {

enum class ErrorKind { kType, kValue, kCore, kBusy, kDisposed, kState };

Napi::Error make_error(Napi::Env env, ErrorKind kind, const std::string& message);
[[noreturn]] inline void fail(Napi::Env env, ErrorKind kind, const std::string& message) {
  throw make_error(env, kind, message);
}
Napi::Error make_abort_error(Napi::Env env);

// The JS error a C++ exception maps to (also for exceptions captured on a worker thread).
Napi::Error error_from(Napi::Env env, const std::exception_ptr& e);

// Runs `body`; a C++ exception leaves as its mapped JS error (a Napi::Error passes unchanged).
template <class F>
auto mapped(Napi::Env env, F&& body) -> decltype(body()) {
  try {
    return std::forward<F>(body)();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw error_from(env, std::current_exception());
  }
}

// Exports `fn` as `name`, its C++ exceptions mapped.
void export_function(Napi::Env env, Napi::Object exports, const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&));

}  // namespace asd::addon
