# Our code builds warning-free; third-party headers come in as SYSTEM includes.
function(x402_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers
    # GCC 12 at -O2 misreports Asio's coroutine frame allocator as mismatched new/delete
    # (GCC bug 109224); the frames are allocated and freed by the same awaitable_frame_base.
    $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete>
    # GCC 12 at -O3 (Release) reports std::string's operator+ as an overlapping memcpy of
    # 2^63 bytes, a false positive (GCC bug 105329): -Wrestrict stays on for GCC 13 and later.
    $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-restrict>)
endfunction()
