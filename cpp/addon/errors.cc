#include "errors.h"

#include <c10/util/Exception.h>

#include <stdexcept>

#include "common/runtime.h"

namespace asd::addon {

namespace {
const char* code_of(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kType: return "ASDKIT_ARG_TYPE";
    case ErrorKind::kValue: return "ASDKIT_ARG_VALUE";
    case ErrorKind::kCore: return "ASDKIT_CORE";
    case ErrorKind::kBusy: return "ASDKIT_BUSY";
    case ErrorKind::kDisposed: return "ASDKIT_DISPOSED";
    case ErrorKind::kState: return "ASDKIT_STATE";
  }
  return "ASDKIT_CORE";
}
}  // namespace

Napi::Error make_error(Napi::Env env, ErrorKind kind, const std::string& message) {
  Napi::Error err = kind == ErrorKind::kType    ? Napi::TypeError::New(env, message)
                    : kind == ErrorKind::kValue ? Napi::RangeError::New(env, message)
                                                : Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code_of(kind)));
  return err;
}

Napi::Error make_abort_error(Napi::Env env) {
  auto err = Napi::Error::New(env, "The operation was aborted");
  err.Set("name", Napi::String::New(env, "AbortError"));
  err.Set("code", Napi::String::New(env, "ABORT_ERR"));
  return err;
}

Napi::Error error_from(Napi::Env env, const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const Napi::Error& err) {
    return err;
  } catch (const Cancelled&) {
    return make_abort_error(env);
  } catch (const c10::Error& err) {  // LibTorch's own checks: drop the C++ backtrace
    return make_error(env, ErrorKind::kCore, err.what_without_backtrace());
  } catch (const std::invalid_argument& err) {
    return make_error(env, ErrorKind::kValue, err.what());
  } catch (const std::out_of_range& err) {
    return make_error(env, ErrorKind::kValue, err.what());
  } catch (const std::domain_error& err) {
    return make_error(env, ErrorKind::kValue, err.what());
  } catch (const std::exception& err) {
    const std::string what = err.what();
    return make_error(env, ErrorKind::kCore, what.empty() ? "native error" : what);
  } catch (...) {
    return make_error(env, ErrorKind::kCore, "unknown native error");
  }
}

void export_function(Napi::Env env, Napi::Object exports, const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  exports.Set(name, Napi::Function::New(
                        env, [fn](const Napi::CallbackInfo& info) { return mapped(info.Env(), [&] { return fn(info); }); }, name));
}

}  // namespace asd::addon
