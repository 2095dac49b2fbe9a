-- Closed-loop load (each connection sends its next request as soon as the previous is answered).
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
