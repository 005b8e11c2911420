# The CPU kernels' AVX2 code must hold no masked stores (vmaskmovps / vpmaskmovd to memory).  GCC, allowed
# -fno-trapping-math, turns a float select whose result goes straight to memory (`out[j] = x < c ? 0 : y`) into
# masked stores, slow on AMD's cores: one such select in fast_exp made phase A a third slower on the development VM's
# EPYC (benchmarks/RESULTS.md, "The CPU kernel's exponentials without masked stores").  Masked loads are allowed.
#
#   cmake -DLIB=libpolicyloss.so -DOBJDUMP=objdump -P no_masked_stores.cmake
execute_process(COMMAND ${OBJDUMP} -d --no-show-raw-insn -C ${LIB} OUTPUT_VARIABLE listing RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${OBJDUMP} -d ${LIB} failed (${rc})")
endif()
# AT&T syntax: a store's memory operand comes last, after the mask and the data registers.
string(REGEX MATCHALL "[^\n]*v(p)?maskmov[a-z]* +%[xy]mm[0-9]+,%[xy]mm[0-9]+,[^\n]*\\([^\n]*" stores "${listing}")
list(LENGTH stores n)
if(n GREATER 0)
  # The function each store is in: the last `<name>:` header before it.
  string(REGEX MATCHALL
         "\n[0-9a-f]+ <[^\n]*>:|[^\n]*v(p)?maskmov[a-z]* +%[xy]mm[0-9]+,%[xy]mm[0-9]+,[^\n]*\\([^\n]*" lines
         "${listing}")
  set(where "")
  foreach(line IN LISTS lines)
    if(line MATCHES "^\n[0-9a-f]+ <(.*)>:$")
      set(fn "${CMAKE_MATCH_1}")
    else()
      string(APPEND where "\n  ${fn}: ${line}")
    endif()
  endforeach()
  message(FATAL_ERROR "${n} masked stores in ${LIB}:${where}")
endif()
message(STATUS "no masked stores in ${LIB}")
