// Whether this test binary is built with AddressSanitizer: tests of RLIMIT_AS skip or
// change under it (ASan reserves terabytes of address space).
#pragma once

namespace lectern::testing {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAsanBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAsanBuild = true;
#else
inline constexpr bool kAsanBuild = false;
#endif
#else
inline constexpr bool kAsanBuild = false;
#endif

}  // namespace lectern::testing
