# CMake snippet for wsgate's C library: defines the IMPORTED target `wsgate::wsgate` (the
# static library, with include/wsgate.h and the system libraries it needs). Usable as is
# from the wsgate source tree; build the library first:
#
#   cargo rustc --release --lib --features ffi --crate-type staticlib
#
# then, in your CMakeLists.txt:
#
#   include(/path/to/wsgate/include/wsgate.cmake)
#   target_link_libraries(app PRIVATE wsgate::wsgate)
#
# Set WSGATE_LIBRARY before the include() to use another build of the library (for
# firmware: target/thumbv7em-none-eabihf/release/libwsgate.a, built with
# `--no-default-features --features ffi,ffi-panic-handler --target thumbv7em-none-eabihf`;
# a firmware link needs none of the host system libraries, see WSGATE_SYSTEM_LIBS).
cmake_minimum_required(VERSION 3.11)

if(NOT TARGET wsgate::wsgate)
  get_filename_component(WSGATE_ROOT "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
  set(WSGATE_INCLUDE_DIR "${WSGATE_ROOT}/include")
  if(NOT WSGATE_LIBRARY)
    set(WSGATE_LIBRARY "${WSGATE_ROOT}/target/release/libwsgate.a")
  endif()
  if(NOT DEFINED WSGATE_SYSTEM_LIBS)
    if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
      # What the Rust standard library needs (`rustc --print native-static-libs`).
      set(WSGATE_SYSTEM_LIBS gcc_s util rt pthread m dl)
    else()
      set(WSGATE_SYSTEM_LIBS "")
    endif()
  endif()
  if(NOT EXISTS "${WSGATE_LIBRARY}")
    message(WARNING "wsgate: ${WSGATE_LIBRARY} does not exist yet; build it with "
      "`cargo rustc --release --lib --features ffi --crate-type staticlib` in ${WSGATE_ROOT}")
  endif()
  add_library(wsgate::wsgate STATIC IMPORTED)
  set_target_properties(wsgate::wsgate PROPERTIES
    IMPORTED_LOCATION "${WSGATE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${WSGATE_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${WSGATE_SYSTEM_LIBS}")
endif()
