# Our code builds warning-free; third-party headers come in as SYSTEM includes.
function(x402_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers
    # GCC 12 at -O2 misreports Asio's coroutine frame allocator as mismatched new/delete
    # (GCC bug 109224); the frames are allocated and freed by the same awaitable_frame_base.
    $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete>)
endfunction()
